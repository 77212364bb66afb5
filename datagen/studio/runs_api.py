"""Runs from the page: start a pipeline YAML or a generator run, watch its progress live
(server-sent events), cancel it, open the version it published (jobs.py does the work).

GET  /runs                      the page: a start form and the runs of this studio
GET  /api/runs                  runs, newest first
POST /api/runs                  {kind: pipeline, path, args?} | {kind: generator, generator, args}
GET  /api/runs/{id}?since=N     state, output lines from N, published versions
GET  /api/runs/{id}/events      text/event-stream: one `line` event a line, then `end`
POST /api/runs/{id}/cancel      SIGINT, as Ctrl-C (SIGKILL if it lingers)
"""

from __future__ import annotations

import asyncio
import json
import re

from .api import _body, _json
from .rendering import render

RUN_ID_RE = re.compile(r"^r\d{1,9}$")
POLL = 0.2


def _id(request) -> str:
    from .refs import BadRequest

    rid = request.path_params["id"]
    if not RUN_ID_RE.match(rid):
        raise BadRequest("bad run id")
    return rid


def page(request):
    from ..generators import REGISTRY

    jobs = request.app.state.jobs
    return render(request, "runs.html", runs=jobs.list(), generators=sorted(REGISTRY),
                  cwd=str(jobs.cwd))


def list_runs(request):
    return _json({"runs": request.app.state.jobs.list()})


async def start(request):
    from starlette.concurrency import run_in_threadpool

    body = await _body(request)
    job = await run_in_threadpool(request.app.state.jobs.start, body)
    return _json(request.app.state.jobs.view(job.id), status=201)


def show(request):
    try:
        since = max(0, int(request.query_params.get("since") or 0))
    except ValueError:
        since = 0
    return _json(request.app.state.jobs.view(_id(request), since))


async def cancel(request):
    return _json(request.app.state.jobs.cancel(_id(request)))


async def events(request):
    from starlette.responses import StreamingResponse

    jobs, rid = request.app.state.jobs, _id(request)
    jobs.get(rid)  # 404 before the stream starts

    async def stream():
        since = 0
        while True:
            view = jobs.view(rid, since)
            for line in view["lines"]:
                yield f"event: line\ndata: {json.dumps(line, ensure_ascii=False)}\n\n"
            since = view["next"]
            if view["state"] != "running":
                end = {k: view[k] for k in ("state", "returncode", "published")}
                yield f"event: end\ndata: {json.dumps(end)}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def routes():
    from starlette.routing import Route

    return [
        Route("/runs", page),
        Route("/api/runs", list_runs, methods=["GET"]),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{id}", show),
        Route("/api/runs/{id}/events", events),
        Route("/api/runs/{id}/cancel", cancel, methods=["POST"]),
    ]
