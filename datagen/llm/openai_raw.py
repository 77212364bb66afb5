"""/v1/completions for the openai backend: raw-text prompts (Magpie's pre-query
templates), through the same retries, endpoints, semaphore and cache as chat calls."""

from __future__ import annotations

from .base import Completion, CompletionRequest
from .cache import request_key
from .openai_wire import sampling_body

NO_COMPLETIONS = ("{url} has no raw completion endpoint (/v1/completions): chat-only APIs such as OpenAI's "
                  "cannot run Magpie; serve an aligned model with vLLM, llama.cpp or TGI (docs/magpie.md)")


async def complete_raw(self, clients, sem, req: CompletionRequest, stage: str | None = None) -> list[Completion]:
    """One /v1/completions request of `self` (an OpenAIChatClient), through its retries and cache."""
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

