"""The `local` backend: the embedded SmolLM2-135M-Instruct (or a local model folder)
through transformers, on the CPU, offline.

`choose` scores each option by the log-likelihood of its tokens after the prompt, so a
weak model still always gives one of the options. `prefill` is appended after the chat
template's assistant header, so the model continues it.

Speed on a small CPU: requests with the same sampling settings are generated together in
one left-padded batch (a 135M model decodes 8 sequences in little more time than one),
decoded by local_decode.py, where a finished row leaves the batch at once, and
option scoring keeps the KV cache of the last prompt, so the long few-shot prefix that
successive fixed-choice questions share is computed once.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Sequence

from .base import (ChatClient, ChatRequest, Choice, Completion, CompletionRequest, Message, Usage, choose_by_likelihood,
                   common_prefix)
from .stages import CLASSIFY
from .cache import ResponseCache, request_key
from .reasoning import split_completions
from .local_decode import decode


@contextlib.contextmanager
def _no_deprecation_noise():
    """transformers renamed `past_key_values` to `cache` (5.x) and warns from inside its
    own generate(); the user can do nothing about that, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*past_key_values.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*past_key_values.*", category=DeprecationWarning)
        yield


def _cache_kwarg(model) -> str:
    """The forward() keyword for the KV cache: `cache` on transformers 5.x, else the old name."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


class LocalChatClient(ChatClient):
    backend = "local"
    supports_raw_completion = supports_likelihood = True
    returns_reasoning = True  # a model that writes <think> blocks (llm/reasoning.py)
    prefers_extractive = True  # SmolLM2-135M cannot write grounded answers

    def __init__(self, model_path: str | None = None, cache: ResponseCache | None = None,
                 threads: int = 1, repetition_penalty: float = 1.1, batch_size: int = 32):
        from .embedded import SMOLLM2_NAME

        self.model_path = model_path
        self.model = Path(model_path).name if model_path else SMOLLM2_NAME
        self.cache = cache
        self.threads = threads
        self.repetition_penalty = repetition_penalty
        self.batch_size = max(1, batch_size)
        self.usage = Usage()
        self._model = None
        self._tok = None
        self._kv = None  # KV cache of the last scored sequence, for prefix reuse
        self._kv_ids: list[int] = []

    def _load(self):
        if self._model is None:
            from .embedded import load_smollm2

            self._model, self._tok = load_smollm2(threads=self.threads, path=self.model_path)
            if self._tok.pad_token_id is None:
                self._tok.pad_token = self._tok.eos_token
        return self._model, self._tok

    def _prompt_text(self, messages: Sequence[Message], prefill: str) -> str:
        _, tok = self._load()
        text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return text + prefill

    # -- chat -----------------------------------------------------------------------
    def _generate(self, reqs: Sequence[ChatRequest], texts: Sequence[str] | None = None) -> list[list[Completion]]:
        """Generate for requests sharing sampling settings, as one left-padded batch
        (`texts`: raw prompts to feed as they are, instead of the requests' messages)."""
        import torch

        model, tok = self._load()
        first = reqs[0]
        prompts = list(texts) if texts is not None else [self._prompt_text(r.message_dicts(), r.prefill) for r in reqs]
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", add_special_tokens=False, padding=True)
        n_prompt = enc["attention_mask"].sum(dim=1).tolist()
        eos = {tok.eos_token_id, tok.pad_token_id} - {None}
        stops = list(first.stop)

        def hit_stop(ids: list[int]) -> bool:
            text = tok.decode(ids, skip_special_tokens=True)
            return any(s in text for s in stops)

        torch.manual_seed(first.seed if first.seed is not None else 0)
        with torch.inference_mode(), _no_deprecation_noise():
            out = decode(model, enc["input_ids"], enc["attention_mask"], n=first.n,
                         max_new_tokens=first.max_tokens, sample=first.temperature > 0,
                         temperature=first.temperature, top_p=first.top_p,
                         repetition_penalty=self.repetition_penalty, eos_ids=sorted(eos),
                         cache_name=_cache_kwarg(model), stopped=hit_stop if stops else None)
        results: list[list[Completion]] = []
        for i, req in enumerate(reqs):
            comps = []
            for seq in out[i * first.n:(i + 1) * first.n]:
                new = list(seq)
                end = next((k for k, t in enumerate(new) if t in eos), None)
                ended = end is not None
                if ended:
                    new = new[: end + 1]
                text = tok.decode(new, skip_special_tokens=True)
                stopped = False
                for s in req.stop:
                    if s in text:
                        text, stopped = text[: text.index(s)], True
                reason = "stop" if (ended or stopped or len(new) < req.max_tokens) else "length"
                comps.append(Completion(text=req.prefill + text, finish_reason=reason,
                                        completion_tokens=len(new)))
            comps[0].prompt_tokens = int(n_prompt[i])
            results.append(comps)
        return results

    def _batches(self, idx: list[int], reqs: Sequence[ChatRequest]) -> list[list[int]]:
        """All of a group's requests in one batch; a group larger than `batch_size` is split
        by prompt length, so that a batch's rows need little padding."""
        if len(idx) <= self.batch_size:
            return [idx]
        size = {i: sum(len(m.get("content") or "") for m in r.message_dicts()) + len(r.prefill) for i, r in zip(idx, reqs)}
        idx = sorted(idx, key=size.get)
        return [idx[k:k + self.batch_size] for k in range(0, len(idx), self.batch_size)]

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        from tqdm.auto import tqdm

        from .ledger import stage_of

        requests = list(requests)
        stage = stage_of(desc)
        self.usage.gate(requests, stage)
        results: list[list[Completion] | None] = [None] * len(requests)
        todo: dict[tuple, list[int]] = {}
        keys = [request_key(self.backend, self.model, r) if self.cache else None for r in requests]
        for i, (req, key) in enumerate(zip(requests, keys)):
            hit = self.cache.get(key) if key else None
            if hit is not None:
                self.usage.add(hit, cached=True, stage=stage)
                results[i] = hit
            else:
                group = (req.n, req.temperature, req.top_p, req.max_tokens, req.stop)
                todo.setdefault(group, []).append(i)
        batches = [b for idx in todo.values() for b in self._batches(idx, [requests[i] for i in idx])]
        bar = tqdm(total=sum(len(b) for b in batches), desc=desc, disable=None if desc else True, leave=False)
        for batch in batches:
            for _ in batch:
                self.usage.sent()
            try:
                done = self._generate([requests[i] for i in batch])
            finally:
                for _ in batch:
                    self.usage.returned()
            for i, comps in zip(batch, done):
                split_completions(comps, lambda t: len(self._load()[1](t, add_special_tokens=False)["input_ids"]))
                if keys[i]:
                    self.cache.put(keys[i], comps)
                self.usage.add(comps, stage=stage)
                results[i] = comps
            bar.update(len(batch))
        bar.close()
        return results  # type: ignore[return-value]

    # -- raw completion (optional capability, see base.py) ----------------------------
    def tokenizer(self):
        """The model's tokenizer, whose chat template a raw-completion caller renders."""
        return self._load()[1]

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw-text completions: each prompt is fed as it is, with no chat template around
        it (Magpie feeds the template cut at the start of a user turn)."""
        from .ledger import stage_of

        requests = list(requests)
        stage = stage_of(desc)
        results: list[list[Completion] | None] = [None] * len(requests)
        keys = [request_key(self.backend, self.model, r, kind="complete") if self.cache else None for r in requests]
        todo: dict[tuple, list[int]] = {}
        for i, (req, key) in enumerate(zip(requests, keys)):
            hit = self.cache.get(key) if key else None
            if hit is not None:
                self.usage.add(hit, cached=True, stage=stage)
                results[i] = hit
            else:
                todo.setdefault((req.n, req.temperature, req.top_p, req.max_tokens, req.stop), []).append(i)
        for idx in todo.values():
            for k in range(0, len(idx), self.batch_size):
                batch = idx[k:k + self.batch_size]
                reqs = [ChatRequest(messages=(), n=r.n, temperature=r.temperature, top_p=r.top_p,
                                    max_tokens=r.max_tokens, stop=r.stop, seed=r.seed)
                        for r in (requests[i] for i in batch)]
                for _ in batch:
                    self.usage.sent()
                try:
                    done = self._generate(reqs, texts=[requests[i].prompt for i in batch])
                finally:
                    for _ in batch:
                        self.usage.returned()
                for i, comps in zip(batch, done):
                    if keys[i]:
                        self.cache.put(keys[i], comps)
                    self.usage.add(comps, stage=stage)
                    results[i] = comps
        return results  # type: ignore[return-value]

    # -- choose ---------------------------------------------------------------------
    def _sequence_logprob(self, ids: list[int], start: int) -> float:
        """Sum of log P(ids[k] | ids[:k]) for k >= start, reusing the KV cache of the
        longest prefix shared with the previous call."""
        import torch
        from transformers import DynamicCache

        model, _ = self._load()
        keep = min(common_prefix(self._kv_ids, ids), start - 1)
        if self._kv is None or keep <= 0:
            self._kv, keep = DynamicCache(), 0
        else:
            self._kv.crop(-(len(self._kv_ids) - keep))
        name = _cache_kwarg(model)
        with torch.inference_mode(), _no_deprecation_noise():
            out = model(input_ids=torch.tensor([ids[keep:]]), use_cache=True, **{name: self._kv})
        kv = out.get(name)  # the same object, filled in place; older versions may return a new one
        self._kv, self._kv_ids = (kv if kv is not None else self._kv), list(ids)
        logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        # logits row r predicts token keep + r + 1
        return sum(logp[k - 1 - keep, ids[k]].item() for k in range(start, len(ids)))

    def option_scores(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> dict[str, float]:
        """Sum of log-probabilities of each option's tokens after the prompt."""
        _, tok = self._load()
        prompt = self._prompt_text(messages, prefill)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        scores = {}
        for opt in options:
            ids = tok(prompt + opt, add_special_tokens=False)["input_ids"]
            # the boundary may merge tokens: score from the first position that differs
            start = max(1, common_prefix(p_ids, ids))
            scores[opt] = self._sequence_logprob(ids, start)
        self.usage.add([Completion("", prompt_tokens=len(p_ids))], stage=CLASSIFY.name)
        return scores

    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        options = list(options)
        req = ChatRequest.make(messages, temperature=0.0, prefill=prefill)
        key = request_key(self.backend, self.model, req, kind="choose:" + "|".join(options)) if self.cache else None
        return choose_by_likelihood(self, key, messages, options, prefill)

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        return [self.choose(m, options, p) for m, p in items]

    def close(self) -> None:
        self._kv, self._kv_ids = None, []
        if self.cache:
            self.cache.close()
