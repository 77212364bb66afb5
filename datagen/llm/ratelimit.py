"""Client-side rate limits for the openai backend: `--rpm` / `--tpm` token buckets, and a
shared pause when the server says how long to wait (a 429's `Retry-After`, or
`x-ratelimit-reset-*` with `x-ratelimit-remaining-*` at 0), so every request in flight
waits once instead of each one walking into the same 429 and retrying on its own.

The same headers on successful replies are read too (`after_response`): when what the
server says remains would not cover the requests now in flight, new requests wait for
the bucket's reset, so the client slows down before the first 429 rather than after it."""

from __future__ import annotations

import asyncio
import re
import time

from .ledger import heuristic_tokens


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None):
        self.rpm, self.tpm = rpm, tpm
        self._req = float(rpm or 0)  # buckets start full
        self._tok = float(tpm or 0)
        self._t = time.monotonic()
        self.pause_until = 0.0
        self.pauses = 0
        self._lock: asyncio.Lock | None = None

    def _refill(self, now: float) -> None:
        dt, self._t = now - self._t, now
        if self.rpm:
            self._req = min(self.rpm, self._req + dt * self.rpm / 60)
        if self.tpm:
            self._tok = min(self.tpm, self._tok + dt * self.tpm / 60)

    async def before(self, body: dict) -> None:
        """Wait until a request with this body may go out."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        cost = 0
        if self.tpm:
            msgs = [(m.get("role", ""), str(m.get("content", ""))) for m in body.get("messages", [])]
            cost = min(self.tpm, heuristic_tokens(msgs) + int(body.get("max_tokens") or 0) * int(body.get("n") or 1))
        async with self._lock:  # one waiter at a time keeps the order fair
            while True:
                now = time.monotonic()
                if now < self.pause_until:
                    await asyncio.sleep(self.pause_until - now)
                    continue
                self._refill(now)
                wait = 0.0
                if self.rpm and self._req < 1:
                    wait = max(wait, (1 - self._req) * 60 / self.rpm)
                if self.tpm and self._tok < cost:
                    wait = max(wait, (cost - self._tok) * 60 / self.tpm)
                if wait <= 0:
                    if self.rpm:
                        self._req -= 1
                    if self.tpm:
                        self._tok -= cost
                    return
                await asyncio.sleep(wait)

    def _pause(self, delay: float) -> None:
        now = time.monotonic()
        if now >= self.pause_until:
            self.pauses += 1  # one pause, however many replies announce it
        self.pause_until = max(self.pause_until, now + min(delay, 120.0))

    def after_response(self, headers, in_flight: int = 0, data=None) -> None:
        """A successful reply's `x-ratelimit-*` headers. When what remains would not cover the
        requests now in flight plus one more (requests; tokens at this reply's total_tokens
        each), new requests wait until that bucket resets."""
        for kind in ("requests", "tokens"):
            rem = headers.get(f"x-ratelimit-remaining-{kind}")
            if rem is None:
                continue
            try:
                left = float(rem)
            except ValueError:
                continue
            per = 1
            if kind == "tokens":
                usage = data.get("usage") if isinstance(data, dict) else None
                per = int(usage.get("total_tokens") or 0) if isinstance(usage, dict) else 0
            if left <= 0 or left < (in_flight + 1) * per:
                delay = _duration(headers.get(f"x-ratelimit-reset-{kind}", ""))
                if delay:
                    self._pause(delay)

    def after_error(self, exc: BaseException) -> None:
        """A 429 (or 503) that says how long to wait pauses every request for that long."""
        response = getattr(exc, "response", None)
        if getattr(exc, "status_code", None) not in (429, 503) or response is None:
            return
        delay = server_delay(response.headers)
        if delay:
            self._pause(delay)


def server_delay(headers) -> float | None:
    """Seconds the server asks to wait: Retry-After (seconds), else the reset of an exhausted
    x-ratelimit bucket ("1s", "6m0s", "250ms")."""
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            pass
    for kind in ("requests", "tokens"):
        if headers.get(f"x-ratelimit-remaining-{kind}") == "0":
            d = _duration(headers.get(f"x-ratelimit-reset-{kind}", ""))
            if d:
                return d
    return None


def _duration(text: str) -> float | None:
    parts = re.findall(r"([\d.]+)(ms|s|m|h)", text or "")
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)
