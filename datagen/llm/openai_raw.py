"""/v1/completions for the openai backend: raw-text prompts (Magpie's pre-query
templates), through the same retries, endpoints, semaphore and cache as chat calls."""

from __future__ import annotations

from typing import Any

from .base import Completion, CompletionRequest
from .cache import request_key

NO_COMPLETIONS = ("{url} has no raw completion endpoint (/v1/completions): chat-only APIs such as OpenAI's "
                  "cannot run Magpie; serve an aligned model with vLLM, llama.cpp or TGI (docs/magpie.md)")


async def complete_raw(self, clients, sem, req: CompletionRequest) -> list[Completion]:
    """One /v1/completions request of `self` (an OpenAIChatClient), through its retries and cache."""
    key = request_key(self.backend, self.model, req, kind="complete", endpoint=self.endpoint) if self.cache else None
    if key and (hit := self.cache.get(key)) is not None:
        self.usage.add(hit, cached=True)
        return hit
    out: list[Completion] = []
    retries = pt_total = ct_total = asked = 0
    for _ in range(req.n):  # servers that ignore n get asked again
        want = req.n - len(out)
        if want <= 0:
            break
        body: dict[str, Any] = dict(model=self.model, prompt=req.prompt, temperature=req.temperature,
                                    top_p=req.top_p, max_tokens=req.max_tokens, n=want)
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        data, r = await self._call(clients, sem, body, path="/completions")
        retries += r
        asked += 1
        pt, ct = _tokens(data)
        pt_total, ct_total = pt_total + pt, ct_total + ct
        for ch in data["choices"][:want]:
            text = ch.get("text")
            out.append(Completion(text=text if isinstance(text, str) else "",
                                  finish_reason=ch.get("finish_reason") or "stop"))
    out[0].prompt_tokens, out[0].completion_tokens = pt_total, ct_total
    if key:
        self.cache.put(key, out)
    self.usage.add(out, retries=retries, sent=asked + retries)
    return out


def _tokens(data: dict) -> tuple[int, int]:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
