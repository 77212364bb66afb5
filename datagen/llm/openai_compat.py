"""The `openai` backend: the official SDK against any OpenAI-compatible endpoint.

Async with bounded concurrency; tenacity retries with exponential backoff and jitter on
429, 5xx, timeouts, connection errors and garbled bodies; no retry on 400/401/403/404,
which stop the run with a clear message. Several base URLs spread the load, and a failed
attempt moves to the next endpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from typing import Sequence

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import LLMError
from .base import ChatRequest, Choice, Completion, Message, Usage, match_option
from .cache import ResponseCache, request_key


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408
    # a 200 with a body that is not the expected JSON: a proxy hiccup, worth a retry
    return isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError))


def _fatal_message(exc: BaseException, base_url: str) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        hint = {
            401: "check OPENAI_API_KEY",
            403: "the key may not use this model",
            404: "check --model and --base-url",
            400: "the server rejected the request",
        }.get(exc.status_code, "")
        detail = str(getattr(exc, "message", exc)).strip().splitlines()[0] if str(exc).strip() else ""
        # the SDK words it "Error code: 401 - ..."; the status is already said once
        detail = re.sub(r"^Error code: \d+\s*-?\s*", "", detail)[:200]
        return f"{base_url}: HTTP {exc.status_code} {detail}" + (f" ({hint})" if hint else "")
    return f"{base_url}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


class OpenAIChatClient:
    backend = "openai"

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
        self.model = model
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self._api_key = api_key or "not-needed"  # local servers accept any key
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_max_wait = retry_max_wait
        self.cache = cache
        self.logprobs = logprobs
        self.usage = Usage()
        self._rr = itertools.count()

    # -- plumbing -------------------------------------------------------------------
    def _clients(self):
        from openai import AsyncOpenAI

        return [
            AsyncOpenAI(base_url=u, api_key=self._api_key, timeout=self.timeout, max_retries=0)
            for u in self.base_urls
        ]

    async def _call(self, clients, sem, fn):
        """Run `fn(client)` with retries, moving to the next endpoint on each attempt."""
        start = next(self._rr)
        attempt = 0
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait_random_exponential(multiplier=0.5, max=self.retry_max_wait),
            stop=stop_after_attempt(self.max_retries + 1),
            reraise=True,
        )
        async with sem:
            try:
                async for att in retrying:
                    with att:
                        idx = (start + attempt) % len(clients)
                        attempt += 1
                        return await fn(clients[idx]), attempt - 1
            except Exception as exc:  # noqa: BLE001 - every failure becomes one LLMError
                idx = (start + attempt - 1) % len(clients)
                why = "gave up after retries" if _retryable(exc) else "not retried"
                raise LLMError(f"LLM call failed ({why}): {_fatal_message(exc, self.base_urls[idx])}") from None

    def _run(self, coro_factory):
        async def main():
            clients = self._clients()
            try:
                return await coro_factory(clients)
            finally:
                for c in clients:
                    await c.close()

        return asyncio.run(main())

    # -- chat -----------------------------------------------------------------------
    async def _complete(self, clients, sem, req: ChatRequest) -> list[Completion]:
        key = request_key(self.backend, self.model, req) if self.cache else None
        if key and (hit := self.cache.get(key)) is not None:
            self.usage.add(hit, cached=True)
            return hit
        messages = req.message_dicts()
        if req.prefill:
            # vLLM, llama.cpp and Ollama continue a trailing assistant message
            messages.append({"role": "assistant", "content": req.prefill})
        out: list[Completion] = []
        retries = pt_total = ct_total = 0
        for _ in range(req.n):  # servers that ignore n (llama.cpp) get asked again
            want = req.n - len(out)
            if want <= 0:
                break
            params = dict(
                model=self.model, messages=messages, temperature=req.temperature,
                top_p=req.top_p, max_tokens=req.max_tokens, n=want,
            )
            if req.stop:
                params["stop"] = list(req.stop)
            if req.seed is not None:
                params["seed"] = req.seed

            async def fn(client, params=params):
                resp = await client.chat.completions.create(**params)
                if not getattr(resp, "choices", None):
                    raise ValueError("response has no choices")
                return resp

            resp, r = await self._call(clients, sem, fn)
            retries += r
            usage = getattr(resp, "usage", None)
            pt_total += getattr(usage, "prompt_tokens", 0) or 0
            ct_total += getattr(usage, "completion_tokens", 0) or 0
            for ch in resp.choices:
                text = ch.message.content or ""
                if req.prefill and not text.startswith(req.prefill.strip()):
                    text = req.prefill + text
                out.append(Completion(text=text, finish_reason=ch.finish_reason or "stop"))
        # usage is reported per call, not per choice: the first completion carries it
        out[0].prompt_tokens, out[0].completion_tokens = pt_total, ct_total
        if key:
            self.cache.put(key, out)
        self.usage.add(out, retries=retries)
        return out

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        requests = list(requests)
        if not requests:
            return []

        async def go(clients):
            from tqdm.auto import tqdm

            sem = asyncio.Semaphore(self.concurrency)
            bar = tqdm(total=len(requests), desc=desc, disable=None if desc else True, leave=False)

            async def one(req):
                res = await self._complete(clients, sem, req)
                bar.update(1)
                return res

            tasks = [asyncio.ensure_future(one(r)) for r in requests]
            try:
                return await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            finally:
                bar.close()

        return self._run(go)

    # -- choose ---------------------------------------------------------------------
    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        return self.choose_many([(messages, prefill)], options)[0]

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        """Several fixed-choice questions at once: items are (messages, prefill) pairs."""
        options = list(options)

        async def go(clients):
            sem = asyncio.Semaphore(self.concurrency)
            return await asyncio.gather(*(self._choose(clients, sem, m, options, p) for m, p in items))

        return self._run(go) if items else []

    async def _choose(self, clients, sem, messages, options, prefill) -> Choice:
        req = ChatRequest.make(messages, temperature=0.0, max_tokens=8, prefill=prefill)
        key = request_key(self.backend, self.model, req, kind="choose:" + "|".join(options)) if self.cache else None
        if key and (hit := self.cache.get_json(key)) is not None:
            self.usage.add([], cached=True)
            return Choice(**hit)
        msgs = req.message_dicts()
        if prefill:
            msgs.append({"role": "assistant", "content": prefill})
        params = dict(model=self.model, messages=msgs, temperature=0.0, max_tokens=8)
        if self.logprobs:
            params.update(logprobs=True, top_logprobs=5)

        async def fn(client):
            return await client.chat.completions.create(**params)

        resp, retries = await self._call(clients, sem, fn)
        ch = resp.choices[0]
        raw = ch.message.content or ""
        scores = _first_token_scores(ch, options)
        option = match_option(raw, options)
        if option is None and scores:
            option = max(scores, key=scores.get)
        usage = getattr(resp, "usage", None)
        self.usage.add([Completion(raw, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                                   completion_tokens=getattr(usage, "completion_tokens", 0) or 0)],
                       retries=retries)
        result = Choice(option=option, scores=scores, raw=raw)
        if key:
            self.cache.put_json(key, {"option": option, "scores": scores, "raw": raw})
        return result

    def close(self) -> None:
        if self.cache:
            self.cache.close()


def _first_token_scores(choice, options) -> dict[str, float]:
    """Log-probability per option from the first token's top_logprobs, where offered."""
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp else None
    if not content:
        return {}
    scores: dict[str, float] = {}
    for top in content[0].top_logprobs or []:
        tok = (top.token or "").strip().lower()
        if not tok:
            continue
        for opt in options:
            if opt.lower().startswith(tok) and top.logprob > scores.get(opt, -math.inf):
                scores[opt] = top.logprob
    return scores
