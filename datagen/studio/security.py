"""The studio's guards, as Jupyter's server guards a local web app.

- Loopback by default. Bound elsewhere, a token is required: `Authorization: token T`
  (or `Bearer T`), the `datagen_studio` cookie, or `?token=T` once (it sets the cookie
  and redirects to the URL without it). Anything else gets 401, pages and API alike.
- Without a token, the Host header must name the loopback (DNS rebinding: a page on
  evil.example resolving to 127.0.0.1 gets 403).
- Every POST carries the XSRF token in the `X-XSRF-Token` header: 403 without it. A page
  finds it in its <meta name="xsrf">, a script in GET /api/session.
- Every response says: no framing, no sniffing, scripts only from /static (CSP).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

COOKIE = "datagen_studio"
XSRF_HEADER = b"x-xsrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store")]


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class GuardMiddleware:
    """Token, Host and XSRF checks in front of the whole app (a plain ASGI middleware)."""

    def __init__(self, app, token: str | None, xsrf: str):
        self.app, self.token, self.xsrf = app, token, xsrf

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        is_api = scope.get("path", "").startswith("/api/")
        if self.token is None:
            host = headers.get("host", "").rsplit(":", 1)[0] if not headers.get("host", "").endswith("]") \
                else headers.get("host", "")
            if not is_loopback(host):
                return await _deny(send, 403, "host not allowed: the studio answers loopback names only", is_api)
        else:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if method == "GET" and _same(query.get("token"), self.token):
                rest = urlencode([(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1"))
                                  if k != "token"])
                location = scope["path"] + (f"?{rest}" if rest else "")
                return await _redirect(send, location, self.token)
            if not self._authorized(headers):
                return await _deny(send, 401, "token required: open the URL the studio printed, or send "
                                              "'Authorization: token <TOKEN>'", is_api)
        if method not in SAFE_METHODS and not _same(headers.get("x-xsrf-token"), self.xsrf):
            return await _deny(send, 403, "missing or wrong XSRF token (send the X-XSRF-Token header; "
                                          "GET /api/session gives it)", is_api)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + HEADERS
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and _same(value.strip(), self.token):
            return True
        if "cookie" in headers:
            jar = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:
                return False
            morsel = jar.get(COOKIE)
            return morsel is not None and _same(morsel.value, self.token)
        return False


async def _deny(send, status: int, message: str, is_api: bool) -> None:
    if is_api:
        body, ctype = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, ctype = f"{status}: {message}\n".encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())] + HEADERS})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send, location: str, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0")] + HEADERS})
    await send({"type": "http.response.body", "body": b""})
