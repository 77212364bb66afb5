"""The Starlette app: routes from pages.py, api.py and runs_api.py, the guards in front.

`create_app(store_root, token=None)`: with a token, every request must carry it (see
security.py); without one the app answers loopback Host names only. Templates are
Jinja2 with autoescape on; assets ship in the package (static/), nothing from a CDN.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from ..errors import DatagenError
from ..secrets import redact
from ..store import DatasetStore
from .refs import StudioError
from .rendering import render, templates

HERE = Path(__file__).parent
log = logging.getLogger("datagen.studio")


def create_app(store_root, token: str | None = None, runs: bool = True, cwd=None, index_in_background: bool = False):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from . import api, pages
    from .security import GuardMiddleware

    store = DatasetStore(store_root)
    xsrf = secrets.token_urlsafe(24)
    routes = pages.routes() + api.routes()
    if runs:
        from . import runs_api

        routes += runs_api.routes()
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, token=token, xsrf=xsrf)],
                    exception_handlers={StudioError: _error, DatagenError: _error, 404: _not_found, 405: _not_found,
                                        Exception: _crash})
    app.state.store = store
    app.state.xsrf = xsrf
    app.state.env = templates()
    app.state.token_required = token is not None
    if index_in_background:
        import threading

        from .index import index_all

        threading.Thread(target=index_all, args=(store,), name="studio-indexer", daemon=True).start()
    if runs:
        from .jobs import JobManager

        app.state.jobs = JobManager(store, cwd)
    return app


async def _error(request, exc):
    from starlette.responses import JSONResponse

    status = getattr(exc, "status", 400)
    message = redact(str(exc))
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", status=status, status_code=status, message=message)


async def _not_found(request, exc):
    """No route: a path that tried to climb (`..`, an encoded `/`, an empty segment) is a 400."""
    raw = request.scope.get("raw_path", b"").decode("latin-1").lower()
    path = request.url.path
    if ".." in path or "//" in path or "%2f" in raw or "%5c" in raw or "\\" in path:
        return await _error(request, StudioError("bad path: dataset names and versions are plain words", 400))
    status = getattr(exc, "status_code", 404)
    return await _error(request, StudioError("not found" if status == 404 else "method not allowed", status))


async def _crash(request, exc):
    from starlette.responses import JSONResponse, PlainTextResponse

    log.error("studio: %s on %s", redact(repr(exc)), request.url.path)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "internal error (see the studio's log)"}, status_code=500)
    return PlainTextResponse("500: internal error (see the studio's log)", status_code=500)
