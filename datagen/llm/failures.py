"""Why an openai-backend call failed, said plainly, and whether trying again can help.

The errors come from llm/openai_http.py (HTTPStatusError, TimeoutError, aiohttp's
ClientError) or, for the Batch API client, from the SDK, which wraps the root cause: there
even a refused connection can surface as APITimeoutError("Request timed out"). These
functions look through to the cause, so the message says "connection refused" or
"cannot resolve host", and what cannot succeed is not retried. Base URLs are checked
before any request: `--base-url not-a-url` fails at once instead of after 17 s of retries.
"""

from __future__ import annotations

import re
import sys

REFUSED_RETRIES = 2  # a refused connection is retried this often at most (a restart's gap)


def check_base_url(url: str, source: str = "--base-url") -> str:
    """`url` when it is an http(s) URL with a host; ConfigError naming `source` otherwise
    (so `--base-url not-a-url` fails at once instead of being retried for 17 s)."""
    from urllib.parse import urlsplit

    from ..errors import ConfigError

    try:
        parts = urlsplit(str(url).strip())
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{source} {url!r} is not a URL (expected http://HOST[:PORT]/v1 or https://…)")
    return url


def failure_kind(exc: BaseException) -> str | None:
    """'refused', 'dns' or None, from the root causes the SDK wraps: with the aiohttp
    transport even a refused connection surfaces as APITimeoutError("Request timed out")."""
    import errno
    import socket

    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ == "ClientConnectorDNSError":
            return "dns"
        if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED):
            return "refused"
        if "Name or service not known" in str(e) or "nodename nor servname" in str(e):
            return "dns"  # httpx words it without keeping the gaierror
        todo.extend([e.__cause__, e.__context__, getattr(e, "os_error", None)])
    return None


def _sdk_errors():
    """The SDK's exception classes where something imported the SDK (the Batch API client);
    nothing else can raise them, so the hot path never pays for importing it here."""
    return sys.modules.get("openai")


def _timed_out(exc: BaseException) -> bool:
    import asyncio

    sdk = _sdk_errors()
    # asyncio.TimeoutError is the built-in TimeoutError from Python 3.11 on, its own class in 3.10
    return (isinstance(exc, (TimeoutError, asyncio.TimeoutError))
            or (sdk is not None and isinstance(exc, sdk.APITimeoutError)))


def _connection_failed(exc: BaseException) -> bool:
    sdk = _sdk_errors()
    aiohttp = sys.modules.get("aiohttp")
    return ((aiohttp is not None and isinstance(exc, aiohttp.ClientError))
            or (sdk is not None and isinstance(exc, sdk.APIConnectionError)))


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of a reply that was not 2xx (ours or the SDK's error), else None."""
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def retryable(exc: BaseException) -> bool:
    if failure_kind(exc) == "dns":
        return False  # a host that does not resolve will not resolve on the next try
    if _timed_out(exc) or _connection_failed(exc):
        return True
    if (code := status_code(exc)) is not None:
        return code == 429 or code >= 500 or code == 408
    sdk = _sdk_errors()
    if sdk is not None and isinstance(exc, sdk.APIResponseValidationError):
        return True
    # a 200 with a body that is not the expected JSON: a proxy hiccup, worth a retry
    return isinstance(exc, (ValueError, KeyError, TypeError))


def fatal_message(exc: BaseException, base_url: str, timeout: float | None = None) -> str:
    from urllib.parse import urlsplit

    kind = failure_kind(exc)
    if kind == "dns":
        return f"{base_url}: cannot resolve host {urlsplit(base_url).hostname!r} (check --base-url)"
    if kind == "refused":
        return f"{base_url}: connection refused (is the server running, on that port?)"
    if _timed_out(exc):
        return f"{base_url}: request timed out" + (f" after {timeout:g}s (see --timeout)" if timeout else "")
    if (code := status_code(exc)) is not None:
        hint = {
            401: "check OPENAI_API_KEY",
            403: "the key may not use this model",
            404: "check --model and --base-url",
            400: "the server rejected the request",
        }.get(code, "")
        detail = (str(getattr(exc, "message", exc)).strip().splitlines() or [""])[0]
        # the SDK words it "Error code: 401 - ..."; the status is already said once
        detail = re.sub(r"^Error code: \d+\s*-?\s*", "", detail)[:200]
        return f"{base_url}: HTTP {code} {detail}" + (f" ({hint})" if hint else "")
    text = f"{base_url}: {type(exc).__name__}: {first_line(exc)}"
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    if root is not exc and first_line(root) and first_line(root) not in text:
        text += f" ({first_line(root)})"  # the SDK says "Connection error."; the root cause says which
    return text


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""
