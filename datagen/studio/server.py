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


def listen(host: str, port: int):
    """The server's socket, bound before the URL is printed: a port in use or a host this
    machine does not have is a one-line error (exit 2), not a uvicorn log line."""
    import errno
    import socket

    try:
        # as uvicorn binds: IPv6 for an address with a colon, else IPv4 ("localhost" is 127.0.0.1)
        family, _, _, _, addr = socket.getaddrinfo(host, port, socket.AF_INET6 if ":" in host else socket.AF_INET,
                                                   socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise ConfigError(f"--host: cannot listen on {host}:{port}: {str(e.strerror).lower()}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        flag = "--port" if e.errno in (errno.EADDRINUSE, errno.EACCES) else "--host"
        raise ConfigError(f"{flag}: cannot listen on {host}:{port}: {str(e.strerror).lower()}") from None
    return sock


def serve(opts: ServeOptions, echo=print) -> None:
    require_extra("studio", "datagen studio")
    import uvicorn

    from ..store import DatasetStore
    from . import create_app

    token = settle_token(opts.host, opts.token)
    sock = listen(opts.host, opts.port)
    port = sock.getsockname()[1]  # --port 0: the one the system chose
    store = DatasetStore(opts.store)
    app = create_app(store.root, token=token, runs=True, index_in_background=True)
    shown = f"[{opts.host}]" if ":" in opts.host else opts.host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    echo(f"datagen studio over {store.root.resolve()}: {url}")
    if token and not is_loopback(opts.host):
        echo("bound beyond this machine: every request needs the token (anyone on the network can reach the port)")
    if opts.open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        app.state.jobs.shutdown()  # a run started here does not outlive the studio
