"""The JSON API: /api/... returns the objects the pages render (views.py).

GET /api/session                                  the XSRF token for POSTs
GET /api/datasets                                 every dataset with its versions
GET /api/datasets/{name}                          one dataset's versions (the chart's rows)
GET /api/datasets/{name}/{version}?q=&source=&…   a page of records + manifest + rejects
GET /api/datasets/{name}/{version}/records/{id}   one record with scores, lineage, provenance
GET /api/datasets/{name}/{version}/review         the review draft (revision, actions)
POST /api/datasets/{name}/{version}/review        {revision, action, id | filter, note?, edit?}
POST /api/datasets/{name}/{version}/publish       {revision} -> the new version
GET /api/datasets/{name}/{version}/report         {built, figures, html, missing}
POST /api/datasets/{name}/{version}/report        build it (as `datagen report`), once; 501 without matplotlib
GET /api/compare?a=name@v0001&b=name@v0002        added / removed / changed, word by word
"""

from __future__ import annotations

import json

from . import views
from .refs import BadRequest, split_pair


def _json(obj, status: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(obj, status_code=status)


async def _body(request) -> dict:
    raw = await request.body()
    if len(raw) > 1_000_000:
        raise BadRequest("request body over 1 MB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def session(request):
    return _json({"xsrf": request.app.state.xsrf, "store": str(request.app.state.store.root),
                  "token_required": request.app.state.token_required})


def datasets(request):
    return _json(views.datasets_view(request.app.state.store))


def dataset(request):
    return _json(views.dataset_view(request.app.state.store, request.path_params["name"]))


def version(request):
    p = request.path_params
    return _json(views.version_view(request.app.state.store, p["name"], p["version"], request.query_params))


def record(request):
    p = request.path_params
    return _json(views.record_page_view(request.app.state.store, p["name"], p["version"], p["rid"]))


def review_get(request):
    p = request.path_params
    return _json(views.review_view(request.app.state.store, p["name"], p["version"]))


async def review_post(request):
    from starlette.concurrency import run_in_threadpool

    p = request.path_params
    body = await _body(request)
    return _json(await run_in_threadpool(views.review_action, request.app.state.store, p["name"], p["version"], body))


async def publish(request):
    from starlette.concurrency import run_in_threadpool

    p = request.path_params
    body = await _body(request)
    return _json(await run_in_threadpool(views.publish_review, request.app.state.store, p["name"], p["version"],
                                         body), status=201)


def report_get(request):
    p = request.path_params
    return _json(views.version_report(request.app.state.store, p["name"], p["version"]))


async def report_post(request):
    from starlette.concurrency import run_in_threadpool

    p = request.path_params
    return _json(await run_in_threadpool(views.build_report, request.app.state.store, p["name"], p["version"]))


def compare(request):
    from .compare import compare as do_compare
    from .refs import open_version

    store = request.app.state.store
    a, b = (split_pair(request.query_params.get(k, "")) for k in ("a", "b"))
    return _json(do_compare(open_version(store, *a), open_version(store, *b)))


def routes():
    from starlette.routing import Route

    base = "/api/datasets/{name}/{version}"
    return [
        Route("/api/session", session),
        Route("/api/datasets", datasets),
        Route("/api/datasets/{name}", dataset),
        Route(base, version),
        Route(base + "/records/{rid}", record),
        Route(base + "/review", review_get, methods=["GET"]),
        Route(base + "/review", review_post, methods=["POST"]),
        Route(base + "/publish", publish, methods=["POST"]),
        Route(base + "/report", report_get, methods=["GET"]),
        Route(base + "/report", report_post, methods=["POST"]),
        Route("/api/compare", compare),
    ]
