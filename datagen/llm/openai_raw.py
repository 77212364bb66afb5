"""/v1/completions for the openai backend: raw-text prompts (Magpie's pre-query
templates), through the same retries, endpoints, semaphore and cache as chat calls.

`RawCompletions` is the part of OpenAIChatClient that does it (a mixin over the client's
`_run`, `_sample`, `_sem`, cache and usage), kept apart from the chat path."""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import LLMError
from .base import Completion, CompletionRequest
from .cache import request_key
from .openai_wire import _gather_or_cancel, sampling_body

NO_COMPLETIONS = ("{url} has no raw completion endpoint (/v1/completions): chat-only APIs such as OpenAI's "
                  "cannot run Magpie; serve an aligned model with vLLM, llama.cpp or TGI (docs/magpie.md)")


class RawCompletions:
    """`complete_many` of the openai client (optional capability, see base.py)."""

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw-text completions from the server's /v1/completions (vLLM, llama.cpp, TGI).
        Chat-only APIs have none: LLMError saying so, up front for api.openai.com."""
        from .ledger import stage_of

        requests = list(requests)
        stage = stage_of(desc)
        if not requests:
            return []
        for url in self.base_urls:
            if "api.openai.com" in url:
                raise LLMError(NO_COMPLETIONS.format(url=url))

        async def go(clients):
            return await _gather_or_cancel([self._complete_raw(clients, self._sem, r, stage) for r in requests])

        try:
            return self._run(go)
        except LLMError as e:
            if re.search(r"HTTP (404|405)\b", str(e)):
                raise LLMError(NO_COMPLETIONS.format(url=self.base_urls[0]) + f" [{e}]") from None
            raise

    async def _complete_raw(self, clients, sem, req: CompletionRequest, stage: str | None = None) -> list[Completion]:
        """One /v1/completions request, through the client's retries and cache."""
        key = request_key(self.backend, self.model, req, kind="complete", endpoint=self.endpoint) if self.cache else None
        if key and (hit := self.cache.get(key)) is not None:
            self.usage.add(hit, cached=True, stage=stage)
            return hit
        got = await self._sample(clients, sem, sampling_body(req, model=self.model, prompt=req.prompt), req.n,
                                 path="/completions")
        out = [Completion(text=ch.get("text") if isinstance(ch.get("text"), str) else "",
                          finish_reason=ch.get("finish_reason") or "stop") for ch in got.choices]
        out[0].prompt_tokens, out[0].completion_tokens = got.prompt_tokens, got.completion_tokens
        if key:
            self.cache.put(key, out)
        self.usage.add(out, retries=got.retries, sent=got.sent + got.retries, stage=stage)
        return out
