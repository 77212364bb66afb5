"""Run the studio: check the bind, settle the token, print the URL, serve with uvicorn."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..errors import ConfigError
from ..extras import require_extra
from .security import is_loopback


@dataclass
class ServeOptions:
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # "" or "generate": make one
    open_browser: bool = False


def settle_token(host: str, token: str | None) -> str | None:
    """The token the server will require: None on loopback without --token; a generated
    one where --token had no value or the bind is not loopback."""
    if token:
        if token == "generate":
            return secrets.token_urlsafe(24)
        if len(token) < 16:
            raise ConfigError("--token: use at least 16 characters (or --token without a value to generate one)")
        return token
    if token == "" or not is_loopback(host):
        return secrets.token_urlsafe(24)
    return None


def serve(opts: ServeOptions, echo=print) -> None:
    require_extra("studio", "datagen studio")
    import uvicorn

    from ..store import DatasetStore
    from . import create_app

    token = settle_token(opts.host, opts.token)
    store = DatasetStore(opts.store)
    app = create_app(store.root, token=token, runs=True, index_in_background=True)
    shown = f"[{opts.host}]" if ":" in opts.host else opts.host
    url = f"http://{shown}:{opts.port}/" + (f"?token={token}" if token else "")
    echo(f"datagen studio over {store.root.resolve()}: {url}")
    if token and not is_loopback(opts.host):
        echo("bound beyond this machine: every request needs the token (anyone on the network can reach the port)")
    if opts.open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.run(app, host=opts.host, port=opts.port, log_level="warning", access_log=False)
    finally:
        app.state.jobs.shutdown()  # a run started here does not outlive the studio
