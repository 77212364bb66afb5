"""The HTML pages: each renders the object its /api twin returns (views.py)."""

from __future__ import annotations

from . import summary, views
from .rendering import render
from .refs import open_version, split_pair


def home(request):
    data = views.datasets_view(request.app.state.store)
    for d in data["datasets"]:
        d["chart"] = summary.chart_svg(d["versions"])
    return render(request, "datasets.html", data=data)


def version(request):
    p = request.path_params
    data = views.version_view(request.app.state.store, p["name"], p["version"], request.query_params)
    return render(request, "version.html", data=data)


def record(request):
    p = request.path_params
    data = views.record_page_view(request.app.state.store, p["name"], p["version"], p["rid"])
    return render(request, "record.html", data=data)


def compare(request):
    from .compare import compare as do_compare

    store = request.app.state.store
    a_ref, b_ref = request.query_params.get("a", ""), request.query_params.get("b", "")
    data = None
    if a_ref and b_ref:
        a, b = split_pair(a_ref), split_pair(b_ref)
        data = do_compare(open_version(store, *a), open_version(store, *b))
    refs = [f"{n}@{v}" for n in store.names() for v in store.versions(n)]
    return render(request, "compare.html", data=data, refs=refs, a=a_ref, b=b_ref)


def figure(request):
    """A PNG of the version's report (reports.py checks the name against the folder)."""
    from starlette.responses import FileResponse

    from .reports import report_file

    p = request.path_params
    store = request.app.state.store
    dv = open_version(store, p["name"], p["version"])
    return FileResponse(report_file(store, dv, p["file"]), media_type="image/png")


def report_html(request):
    """The report's self-contained report.html (its pictures are data: URIs, no script)."""
    from starlette.responses import FileResponse

    from .reports import HTML, report_file

    p = request.path_params
    store = request.app.state.store
    dv = open_version(store, p["name"], p["version"])
    return FileResponse(report_file(store, dv, HTML, html=True), media_type="text/html; charset=utf-8")


def routes():
    from starlette.routing import Route

    return [
        Route("/", home),
        Route("/d/{name}/{version}", version),
        Route("/d/{name}/{version}/r/{rid}", record),
        Route("/d/{name}/{version}/figures/{file}", figure),
        Route("/d/{name}/{version}/report/report.html", report_html),
        Route("/compare", compare),
    ]
