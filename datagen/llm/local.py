"""The `local` backend: the embedded SmolLM2-135M-Instruct (or a local model folder)
through transformers, on the CPU, offline.

`choose` scores each option by the log-likelihood of its tokens after the prompt, so a
weak model still always gives one of the options. `prefill` is appended after the chat
template's assistant header, so the model continues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .base import ChatRequest, Choice, Completion, Message, Usage
from .cache import ResponseCache, request_key


class LocalChatClient:
    backend = "local"

    def __init__(self, model_path: str | None = None, cache: ResponseCache | None = None,
                 threads: int = 1, repetition_penalty: float = 1.1):
        from ..embedded import SMOLLM2_NAME

        self.model_path = model_path
        self.model = Path(model_path).name if model_path else SMOLLM2_NAME
        self.cache = cache
        self.threads = threads
        self.repetition_penalty = repetition_penalty
        self.usage = Usage()
        self._model = None
        self._tok = None

    def _load(self):
        if self._model is None:
            from ..embedded import load_smollm2

            self._model, self._tok = load_smollm2(threads=self.threads, path=self.model_path)
        return self._model, self._tok

    def _prompt_text(self, messages: Sequence[Message], prefill: str) -> str:
        _, tok = self._load()
        text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return text + prefill

    # -- chat -----------------------------------------------------------------------
    def _generate(self, req: ChatRequest) -> list[Completion]:
        import torch

        model, tok = self._load()
        prompt = self._prompt_text(req.message_dicts(), req.prefill)
        enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = enc["input_ids"].shape[1]
        sample = req.temperature > 0
        torch.manual_seed(req.seed if req.seed is not None else 0)
        kwargs = dict(
            max_new_tokens=req.max_tokens, do_sample=sample, num_return_sequences=req.n,
            repetition_penalty=self.repetition_penalty,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
        if sample:
            kwargs.update(temperature=req.temperature, top_p=req.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if req.stop:
            kwargs.update(stop_strings=list(req.stop), tokenizer=tok)
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        eos = {tok.eos_token_id, tok.pad_token_id} - {None}
        completions = []
        for seq in out:
            new = seq[n_prompt:].tolist()
            while new and new[-1] == tok.pad_token_id and tok.pad_token_id != tok.eos_token_id:
                new.pop()
            ended = bool(new) and new[-1] in eos
            text = tok.decode(new, skip_special_tokens=True)
            stopped = False
            for s in req.stop:
                if s in text:
                    text, stopped = text[: text.index(s)], True
            reason = "stop" if (ended or stopped or len(new) < req.max_tokens) else "length"
            completions.append(Completion(text=req.prefill + text, finish_reason=reason,
                                          completion_tokens=len(new)))
        completions[0].prompt_tokens = n_prompt
        return completions

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        from tqdm.auto import tqdm

        results = []
        for req in tqdm(list(requests), desc=desc, disable=None if desc else True, leave=False):
            key = request_key(self.backend, self.model, req) if self.cache else None
            hit = self.cache.get(key) if key else None
            if hit is not None:
                self.usage.add(hit, cached=True)
                results.append(hit)
                continue
            comps = self._generate(req)
            if key:
                self.cache.put(key, comps)
            self.usage.add(comps)
            results.append(comps)
        return results

    # -- choose ---------------------------------------------------------------------
    def option_scores(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> dict[str, float]:
        """Sum of log-probabilities of each option's tokens after the prompt."""
        import torch

        model, tok = self._load()
        prompt = self._prompt_text(messages, prefill)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        seqs, spans = [], []
        for opt in options:
            ids = tok(prompt + opt, add_special_tokens=False)["input_ids"]
            # the boundary may merge tokens: score from the first position that differs
            start = next((i for i, (a, b) in enumerate(zip(p_ids, ids)) if a != b), len(p_ids))
            seqs.append(ids)
            spans.append((start, len(ids)))
        width = max(len(s) for s in seqs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        scores = {}
        for row, (opt, (start, end)) in enumerate(zip(options, spans)):
            total = sum(logp[row, pos - 1, ids[row, pos]].item() for pos in range(max(start, 1), end))
            scores[opt] = total
        self.usage.add([Completion("", prompt_tokens=len(p_ids) * len(options))])
        return scores

    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        options = list(options)
        req = ChatRequest.make(messages, temperature=0.0, prefill=prefill)
        key = request_key(self.backend, self.model, req, kind="choose:" + "|".join(options)) if self.cache else None
        if key and (hit := self.cache.get_json(key)) is not None:
            self.usage.add([], cached=True)
            return Choice(**hit)
        scores = self.option_scores(messages, options, prefill)
        best = max(scores, key=scores.get)
        if key:
            self.cache.put_json(key, {"option": best, "scores": scores, "raw": best})
        return Choice(option=best, scores=scores, raw=best)

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        return [self.choose(m, options, p) for m, p in items]

    def close(self) -> None:
        if self.cache:
            self.cache.close()
