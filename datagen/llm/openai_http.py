"""The openai backend's transport: JSON POSTs to an OpenAI-compatible endpoint over one
aiohttp session per base URL.

The wire is JSON in, JSON out, so the hot path does not go through the SDK's client:
importing `openai` (its typed models) took 0.55 s, all of it before a run's first request,
and each `post()` through it spent CPU in the event-loop thread that the run's filters
share under the GIL (figures in docs/benchmarks.md, "Figures behind the code"). aiohttp is
the transport the SDK itself uses at high concurrency (`openai[aiohttp]`). The Batch API
client (llm/batch.py) keeps the SDK: Files and Batches are not on a hot path.

Errors keep the shape llm/failures.py reads: a reply that is not 2xx raises
`HTTPStatusError` (status_code, message, response.headers); timeouts raise TimeoutError;
connection failures raise aiohttp's ClientError, whose causes name refused or DNS.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

ORG_HEADERS = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}


class HTTPStatusError(Exception):
    """A reply that is not 2xx: `status_code`, the server's `message`, `response.headers`
    (for Retry-After); the same attributes the SDK's APIStatusError has."""

    def __init__(self, status_code: int, message: str, headers):
        super().__init__(f"Error code: {status_code} - {message}")
        self.status_code, self.message = status_code, message
        self.response = _Headers(headers)


@dataclass
class _Headers:
    headers: Any


@dataclass
class Reply:
    headers: Any  # case-insensitive (aiohttp's CIMultiDictProxy)
    data: Any  # the parsed JSON, or the text when the body is not JSON


def error_message(data: Any) -> str:
    """The server's own words: `error.message` of an OpenAI-style body, else its text."""
    if isinstance(data, dict) and data.get("error") is not None:
        err = data["error"]
        return str(err.get("message") or err) if isinstance(err, dict) else str(err)
    if isinstance(data, dict) and data.get("detail"):  # FastAPI-style servers (vLLM)
        return str(data["detail"])
    return str(data).strip()[:200]


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP_PROXY / HTTPS_PROXY, else ALL_PROXY,
    unless NO_PROXY covers its host), as curl and the SDK read them; None for a direct
    connection. A SOCKS proxy is a ConfigError: aiohttp speaks to HTTP proxies only."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    from ..errors import ConfigError

    parts = urlsplit(url)
    found = getproxies()
    proxy = found.get(parts.scheme) or found.get("all")
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    if not proxy.lower().startswith(("http://", "https://")):
        raise ConfigError(f"proxy {redact_url(proxy)} for {parts.hostname}: only HTTP(S) proxies are supported "
                          "(HTTPS_PROXY=http://HOST:PORT); for SOCKS, run a local HTTP proxy in front of it")
    return proxy


def redact_url(url: str) -> str:
    """`url` without its user:password part."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return urlunsplit(parts._replace(netloc=f"***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")))


def tls_context(url: str):
    """Certificates for an https endpoint: certifi's bundle, as the SDK's httpx transport
    verified them, unless SSL_CERT_FILE / SSL_CERT_DIR name the system's; True (aiohttp's
    default) for http or without certifi."""
    if not url.lower().startswith("https://") or os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return True
    try:
        import certifi
    except ImportError:
        return True
    import ssl

    return ssl.create_default_context(cafile=certifi.where())


class Endpoint:
    """One base URL: `await post(path, body) -> Reply`, `await close()`. Made inside the
    event loop that uses it (aiohttp sessions belong to one loop)."""

    def __init__(self, base_url: str, api_key: str, timeout: float, proxy: str | None = None,
                 user_agent: str = "datagen"):
        import aiohttp

        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent,
                   "Content-Type": "application/json", "Accept": "application/json"}
        headers.update({h: os.environ[v] for v, h in ORG_HEADERS.items() if os.environ.get(v)})
        # limit=0: the client's semaphore bounds what is in flight. `proxy` (proxy_for, looked
        # up once by the client): aiohttp's trust_env does it per request, reading the
        # environment and ~/.netrc in a thread, which was a third of the CPU per request
        self._proxy = proxy
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, ssl=tls_context(self.base_url)),
            raise_for_status=False)

    async def post(self, path: str, body: dict) -> Reply:
        async with self._session.post(self.base_url + path, data=json.dumps(body), proxy=self._proxy) as resp:
            raw = await resp.read()
            headers, status, reason = resp.headers, resp.status, resp.reason or ""
        text = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(text)
        except ValueError:  # not JSON: the caller's check says so, and it is retried
            data = text
        if status >= 400:
            raise HTTPStatusError(status, error_message(data) or reason, headers)
        return Reply(headers, data)

    async def close(self) -> None:
        await self._session.close()
