"""The `openai` backend: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's server).

Async with bounded concurrency; tenacity retries with exponential backoff and jitter on
429, 5xx, timeouts, connection errors and garbled bodies; no retry on 400/401/403/404
or on a host that does not resolve, and only a couple of quick ones on a refused
connection (llm/failures.py): those stop the run with a message that names the cause.
Several base URLs spread the load, and a failed attempt moves to the next endpoint.

Throughput: one event loop and one aiohttp session per endpoint live as long as the
ChatClient, and bodies go out as JSON through llm/openai_http.py rather than the SDK's
client, whose import and per-call models cost the first request 0.55 s and every request
CPU (docs/benchmarks.md, "Figures behind the code"); the reply's x-ratelimit-* headers
reach the rate limiter (llm/ratelimit.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import threading
import weakref
from typing import Any, Sequence

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import LLMError
from .ledger import NOT_ASKED, BudgetExceeded
from ..secrets import redact
from .base import ChatClient, ChatRequest, Choice, Completion, Message, Usage
from .stages import CLASSIFY
from .cache import ResponseCache, endpoint_key, request_key
from .failures import REFUSED_RETRIES, check_base_url, failure_kind, fatal_message, retryable
from .openai_raw import RawCompletions
from .openai_wire import _check_response, _gather_or_cancel, choice_from, completion_of, sample_n, sampling_body


# clients someone forgot to close() are closed at exit, so aiohttp does not print
# "Unclosed client session" over the user's output
_LIVE: "weakref.WeakSet[OpenAIChatClient]" = weakref.WeakSet()


@atexit.register
def _close_live_clients() -> None:
    for client in list(_LIVE):
        with contextlib.suppress(Exception):
            client.close()


class OpenAIChatClient(RawCompletions, ChatClient):
    backend = "openai"
    supports_raw_completion = True  # against servers with /v1/completions (openai_raw.py)
    concurrent_calls = True
    returns_reasoning = True  # reasoning_content / reasoning / <think> (llm/reasoning.py)

    def __init__(
        self,
        model: str,
        base_urls: Sequence[str],
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 6,
        retry_max_wait: float = 30.0,
        cache: ResponseCache | None = None,
        logprobs: bool = True,
    ):
        if not base_urls:
            raise LLMError("the openai backend needs --base-url (or OPENAI_BASE_URL)")
        from .openai_http import proxy_for

        for url in base_urls:
            check_base_url(url)
        self.model = model
        self.base_urls = [u.rstrip("/") for u in base_urls]
        # read once, here: a proxy it cannot use fails at once, not in the event loop
        self._proxies = [proxy_for(u) for u in self.base_urls]
        self.endpoint = endpoint_key(self.base_urls)  # part of every cache key
        self._api_key = api_key or "not-needed"  # local servers accept any key
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_max_wait = retry_max_wait
        self.cache = cache
        self.logprobs = logprobs
        self.usage = Usage()
        from .ratelimit import RateLimiter

        self.limiter: RateLimiter | None = RateLimiter()  # honours Retry-After; --rpm/--tpm set limits
        self._rr = itertools.count()
        self._ignores_n = False  # learnt from the first n>1 reply (openai_wire.sample_n)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: list | None = None
        self._sem: asyncio.Semaphore | None = None
        self._start_lock = threading.Lock()
        self._closed = False  # a warm-up that starts after close() starts nothing
        _LIVE.add(self)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatClient(model={self.model!r}, base_urls={self.base_urls!r})"

    # -- plumbing -------------------------------------------------------------------
    async def _make_clients(self):
        from .. import __version__
        from .openai_http import Endpoint

        return [Endpoint(u, self._api_key, self.timeout, proxy=proxy, user_agent=f"datagen/{__version__}")
                for u, proxy in zip(self.base_urls, self._proxies)]

    async def _call(self, clients, sem, body: dict[str, Any],
                    path: str = "/chat/completions") -> tuple[dict[str, Any], int]:
        """POST `body` to `path` with retries, moving to the next endpoint on each
        attempt. Returns (response JSON, retries used).

        What cannot succeed is not retried: a host that does not resolve; a refused
        connection gets REFUSED_RETRIES quick retries (a server restarting) and no more."""
        start = next(self._rr)
        attempt = 0
        refused = 0
        backoff = wait_random_exponential(multiplier=0.5, max=self.retry_max_wait)

        def should_retry(exc: BaseException) -> bool:
            if failure_kind(exc) == "refused":
                return refused <= REFUSED_RETRIES + len(clients) - 1  # +1 per extra replica
            return retryable(exc)

        def wait(state) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if exc is not None and failure_kind(exc) == "refused":
                return min(0.2 * refused, self.retry_max_wait)
            return backoff(state)

        retrying = AsyncRetrying(
            retry=retry_if_exception(should_retry), wait=wait,
            stop=stop_after_attempt(self.max_retries + 1), reraise=True,
        )
        async with sem:
            try:
                async for att in retrying:
                    with att:
                        idx = (start + attempt) % len(clients)
                        attempt += 1
                        if self.limiter is not None:
                            await self.limiter.before(body)
                        self.usage.sent()
                        try:
                            reply = await clients[idx].post(path, body)
                        except Exception as exc:  # noqa: BLE001 - counted, then tenacity decides
                            refused += failure_kind(exc) == "refused"
                            if self.limiter is not None:
                                self.limiter.after_error(exc)
                            raise
                        finally:
                            self.usage.returned()
                        data = reply.data
                        if self.limiter is not None:  # x-ratelimit-* of a 200: slow down before a 429
                            self.limiter.after_response(reply.headers, self.usage.in_flight, data)
                        _check_response(data)
                        return data, attempt - 1
            except Exception as exc:  # noqa: BLE001 - every failure becomes one LLMError
                idx = (start + attempt - 1) % len(clients)
                if failure_kind(exc) == "refused":
                    why = f"tried {attempt} time{'s' if attempt > 1 else ''}"
                else:
                    why = "gave up after retries" if retryable(exc) else "not retried"
                detail = fatal_message(exc, self.base_urls[idx], self.timeout)
                raise LLMError(redact(f"LLM call failed ({why}): {detail}")) from None

    def _start(self, warming: bool = False) -> asyncio.AbstractEventLoop | None:
        """One event loop in a background thread for the client's life: calls from any
        thread (pipelined stages of a generator) share it, its connections, and one
        semaphore, so `concurrency` caps the requests in flight across all of them."""
        with self._start_lock:
            if warming and self._closed:
                return None  # closed before the warm-up got here: start nothing
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="datagen-llm", daemon=True)
                thread.start()

                async def setup():
                    return await self._make_clients(), asyncio.Semaphore(self.concurrency)

                self._clients, self._sem = asyncio.run_coroutine_threadsafe(setup(), loop).result()
                self._loop, self._thread = loop, thread
            return self._loop

    def warm_up(self) -> None:
        """The event loop and the endpoints' sessions (importing aiohttp: ~0.15 s) start in a
        thread while the run builds its filters; the first request then finds them ready.
        A failure here is left for that request to raise."""
        def start():
            with contextlib.suppress(Exception):
                self._start(warming=True)

        threading.Thread(target=start, name="datagen-llm-start", daemon=True).start()

    def _run(self, coro_factory):
        loop = self._start()
        fut = asyncio.run_coroutine_threadsafe(coro_factory(self._clients), loop)
        try:
            return fut.result()
        except BaseException:
            # Ctrl-C lands here with the task still pending: cancel it and wait for the
            # cancellation, so no request keeps running behind the caller's back
            fut.cancel()
            with contextlib.suppress(BaseException):
                fut.result(timeout=10)
            raise

    async def _sample(self, clients, sem, body: dict[str, Any], n: int, path: str = "/chat/completions"):
        """n choices of `body` (openai_wire.sample_n); remembers whether this server ignores n."""
        got, self._ignores_n = await sample_n(lambda b: self._call(clients, sem, b, path=path), body, n,
                                              self._ignores_n)
        return got

    # -- chat -----------------------------------------------------------------------
    async def _complete(self, clients, sem, req: ChatRequest, stage: str | None = None) -> list[Completion]:
        key = request_key(self.backend, self.model, req, endpoint=self.endpoint) if self.cache else None
        if key and (hit := self.cache.get(key)) is not None:
            self.usage.add(hit, cached=True, stage=stage)
            return hit
        messages = req.message_dicts()
        if req.prefill:
            # vLLM, llama.cpp and Ollama continue a trailing assistant message
            messages.append({"role": "assistant", "content": req.prefill})
        got = await self._sample(clients, sem, sampling_body(req, model=self.model, messages=messages), req.n)
        out = [completion_of(ch, req.prefill) for ch in got.choices]
        # usage is reported per call, not per choice: the first completion carries it
        out[0].prompt_tokens, out[0].completion_tokens = got.prompt_tokens, got.completion_tokens
        out[0].reasoning_tokens = got.reasoning_tokens
        if key:
            self.cache.put(key, out)
        self.usage.add(out, retries=got.retries, stage=stage, sent=got.sent + got.retries)
        return out

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        from .ledger import stage_of

        requests = list(requests)
        if not requests:
            return []
        stage = stage_of(desc)

        def send(batch: list[ChatRequest]):
            async def go(clients):
                from tqdm.auto import tqdm

                sem = self._sem
                bar = tqdm(total=len(batch), desc=desc, disable=None if desc else True, leave=False)

                async def one(req):
                    res = await self._complete(clients, sem, req, stage)
                    bar.update(1)
                    return res

                try:
                    return await _gather_or_cancel([one(r) for r in batch])
                finally:
                    bar.close()

            return self._run(go)

        # under a cap: the requests that fit go out (in waves while the stage's reply length
        # is still unknown); the rest come back as empty replies (finish_reason "budget")
        # that every parser drops, and the run stops
        out: list[list[Completion]] = []
        rest = requests
        while rest:
            try:
                k = self.usage.admit(rest, stage)
            except BudgetExceeded:
                if not out:
                    raise
                break
            ledger = self.usage.ledger
            before = ledger.calls(stage) if ledger is not None else 0
            try:
                out += send(rest[:k])
            except BaseException:
                if ledger is not None:  # admitted and never answered: no longer in flight
                    ledger.release(stage, k - (ledger.calls(stage) - before))
                raise
            rest = rest[k:]
            if rest and self.usage.ledger is not None and self.usage.ledger.stopped:
                break
        return out + [[Completion("", finish_reason="budget")] for _ in rest]

    # -- choose ---------------------------------------------------------------------
    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        return self.choose_many([(messages, prefill)], options)[0]

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        """Several fixed-choice questions at once: items are (messages, prefill) pairs."""
        options = list(options)
        items = list(items)
        if not items:
            return []
        # under a cap, in waves as chat_many sends them: what fits first, the rest once those
        # replies say what the stage costs; what the cap refuses is "not asked" (NOT_ASKED)
        out: list[Choice] = []
        rest = items
        ledger = self.usage.ledger
        while rest:
            try:
                admitted = self.usage.admit([ChatRequest.make(m, max_tokens=8) for m, _ in rest], "classify")
            except BudgetExceeded:
                if not out:
                    raise
                break
            wave, rest = rest[:admitted], rest[admitted:]

            async def go(clients, wave=wave):
                return await _gather_or_cancel([self._choose(clients, self._sem, m, options, p) for m, p in wave])

            before = ledger.calls("classify") if ledger is not None else 0
            try:
                out += self._run(go)
            except BaseException:
                if ledger is not None:  # admitted and never answered: no longer in flight
                    ledger.release("classify", admitted - (ledger.calls("classify") - before))
                raise
            if rest and ledger is not None and ledger.stopped:
                break
        return out + [Choice(option=None, raw=NOT_ASKED) for _ in rest]

    def choose_key(self, messages, options, prefill) -> str:
        """The cache key of a fixed-choice question (shared with the Batch API path)."""
        req = ChatRequest.make(messages, temperature=0.0, max_tokens=8, prefill=prefill)
        return request_key(self.backend, self.model, req, kind="choose:" + "|".join(options), endpoint=self.endpoint)

    def choose_body(self, messages, prefill) -> dict[str, Any]:
        """The /chat/completions body of a fixed-choice question: 8 tokens, logprobs if on."""
        msgs = ChatRequest.make(messages).message_dicts()
        if prefill:
            msgs.append({"role": "assistant", "content": prefill})
        body: dict[str, Any] = dict(model=self.model, messages=msgs, temperature=0.0, max_tokens=8)
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=5)
        return body

    async def _choose(self, clients, sem, messages, options, prefill) -> Choice:
        key = self.choose_key(messages, options, prefill) if self.cache else None
        if key and (hit := self.cache.get_json(key)) is not None:
            self.usage.add([], cached=True, stage=CLASSIFY.name)
            return Choice(**hit)
        data, retries = await self._call(clients, sem, self.choose_body(messages, prefill))
        result, comp = choice_from(data, options)
        self.usage.add([comp], retries=retries, stage=CLASSIFY.name)
        if key:
            self.cache.put_json(key, {"option": result.option, "scores": result.scores, "raw": result.raw})
        return result

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            loop, thread, clients = self._loop, self._thread, self._clients
            self._loop = self._thread = self._clients = self._sem = None
        if loop is not None:
            async def shutdown():
                for c in clients or []:
                    with contextlib.suppress(Exception):
                        await c.close()
                with contextlib.suppress(Exception):
                    await loop.shutdown_asyncgens()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
        if self.cache:
            self.cache.close()
