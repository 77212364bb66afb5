"""The `local` backend on llama.cpp (llama-cpp-python): a GGUF model — the embedded
SmolLM2-135M-Instruct by default — run as it ships, quantized, on the CPU, offline.

Same contract as the transformers engine (local.py): the model's own chat template
(read from the GGUF, rendered with llama-cpp-python's Jinja formatter), `prefill` after
the assistant header, `choose` by the log-likelihood of each option's tokens. Here a
request is decoded on its own, from a fresh evaluation of its prompt (so its output never
depends on the request before it; its n samples share that evaluation), and choose() runs
in a second context whose KV cache keeps the few-shot prefix that successive questions
share. It decodes faster than the transformers engine, answers a fixed-choice question
sooner and loads without dequantizing the GGUF or importing torch (bench_local.py; the
figures are in docs/benchmarks.md).

Outputs differ from the transformers engine's (another sampler), so the cache keys name
the engine.
"""

from __future__ import annotations

import atexit
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, LLMError
from .base import (ChatClient, ChatRequest, Choice, Completion, CompletionRequest, Message, Usage, choose_by_likelihood,
                   common_prefix)
from .stages import CLASSIFY
from .cache import ResponseCache, request_key
from .reasoning import split_completions

ENGINE = "llama.cpp"
N_CTX = 8192  # SmolLM2's training context: prompts the transformers engine takes fit here too


def available() -> bool:
    """Whether llama-cpp-python is installed (it builds from source; see the Makefile)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppChatClient(ChatClient):
    backend = "local"
    supports_raw_completion = supports_likelihood = True
    returns_reasoning = True  # a model that writes <think> blocks (llm/reasoning.py)
    prefers_extractive = True  # SmolLM2-135M cannot write grounded answers
    engine = ENGINE

    def __init__(self, model_path: str | None = None, cache: ResponseCache | None = None,
                 threads: int = 1, repetition_penalty: float = 1.1):
        from .embedded import SMOLLM2_NAME

        if model_path and not Path(model_path).is_file():
            raise ConfigError(f"GGUF model file not found: {model_path}")
        self.model_path = model_path
        self.model = Path(model_path).stem if model_path else SMOLLM2_NAME
        self.cache = cache
        self.threads = threads
        self.repetition_penalty = repetition_penalty
        self.usage = Usage()
        self._llm = None
        self._scorer = None  # a second context for choose(), whose KV cache generation never resets
        self._fmt = None

    def _context(self):
        from llama_cpp import Llama

        from .embedded import smollm2_gguf

        # no flash attention: it was no faster here, and a prefix reused from the KV cache
        # then scored options up to 0.07 nats off a fresh evaluation (1e-3 without it).
        # The weights are memory-mapped: a second context shares them.
        llm = Llama(model_path=self.model_path or str(smollm2_gguf()), n_ctx=N_CTX, n_threads=self.threads,
                    n_threads_batch=self.threads, flash_attn=False, verbose=False)
        # freed before the interpreter tears down the bindings its __del__ needs
        atexit.register(llm.close)
        return llm

    def _load_scorer(self):
        self._load()
        if self._scorer is None:
            self._scorer = self._context()
        return self._scorer

    def _load(self):
        if self._llm is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llm = self._context()
            path = self.model_path or "the embedded model"
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ConfigError(f"{path}: the GGUF has no chat template (tokenizer.chat_template)")
            piece = lambda tid: llm.detokenize([tid], special=True).decode("utf-8", "replace")  # noqa: E731
            self._fmt = Jinja2ChatFormatter(template, eos_token=piece(llm.token_eos()),
                                            bos_token=piece(llm.token_bos()), add_generation_prompt=True)
            self._llm = llm
        return self._llm

    def _ids(self, text: str) -> list[int]:
        # special tokens in the rendered template (<|im_start|>) are tokens, not text
        return self._load().tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _prompt_text(self, messages: Sequence[Message], prefill: str) -> str:
        self._load()
        return self._fmt(messages=[dict(m) for m in messages]).prompt + prefill

    # -- generation -----------------------------------------------------------------
    def _sample(self, ids: list[int], req, prefill: str = "") -> list[Completion]:
        """req.n completions of the prompt `ids` (seed + i for the i-th)."""
        llm = self._load()
        room = llm.n_ctx() - len(ids)
        if room <= 0:
            raise LLMError(f"the prompt has {len(ids)} tokens, more than the model's context ({llm.n_ctx()})")
        # every sample starts from the same state, whatever ran before: the prompt but its last
        # token evaluated afresh, then create_completion reuses that prefix and evaluates the
        # last token (a prompt evaluated on top of another's prefix decodes slightly
        # differently). The n samples of a request share the prompt's evaluation.
        llm.reset()
        if len(ids) > 1:
            llm.eval(ids[:-1])
        comps = []
        for i in range(req.n):
            seed = (req.seed + i) % (2**31) if req.seed is not None else i
            out = llm.create_completion(ids, max_tokens=min(req.max_tokens, room), temperature=req.temperature,
                                        top_p=req.top_p, stop=list(req.stop) or None, seed=seed,
                                        repeat_penalty=self.repetition_penalty)
            ch, usage = out["choices"][0], out["usage"]
            reason = "length" if ch.get("finish_reason") == "length" else "stop"
            comps.append(Completion(text=prefill + ch["text"], finish_reason=reason,
                                    completion_tokens=int(usage.get("completion_tokens") or 0)))
        comps[0].prompt_tokens = len(ids)
        return comps

    def _many(self, requests: list, keys: list, stage: str | None, make) -> list[list[Completion]]:
        from tqdm.auto import tqdm

        results: list[list[Completion] | None] = [None] * len(requests)
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if key else None
            if hit is not None:
                self.usage.add(hit, cached=True, stage=stage)
                results[i] = hit
            else:
                todo.append(i)
        bar = tqdm(total=len(todo), desc=stage, disable=None if stage and todo else True, leave=False)
        for i in todo:
            self.usage.sent()
            try:
                comps = make(requests[i])
            finally:
                self.usage.returned()
            if keys[i]:
                self.cache.put(keys[i], comps)
            self.usage.add(comps, stage=stage)
            results[i] = comps
            bar.update(1)
        bar.close()
        return results  # type: ignore[return-value]

    def _key(self, req, kind: str = "chat") -> str | None:
        return request_key(self.backend, self.model, req, kind=kind, endpoint=ENGINE) if self.cache else None

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        from .ledger import stage_of

        requests = list(requests)
        stage = stage_of(desc)
        self.usage.gate(requests, stage)
        return self._many(requests, [self._key(r) for r in requests], stage, lambda r: split_completions(self._sample(
            self._ids(self._prompt_text(r.message_dicts(), r.prefill)), r, r.prefill), lambda t: len(self._ids(t))))

    def tokenizer(self):
        """A Hugging Face tokenizer with the model's chat template (for Magpie's renderer)."""
        from transformers import AutoTokenizer

        if self.model_path:
            p = Path(self.model_path)
            return AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)
        from .embedded import smollm2_dir

        return AutoTokenizer.from_pretrained(smollm2_dir())

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw-text completions: each prompt fed as it is, with no chat template around it."""
        from .ledger import stage_of

        requests = list(requests)
        stage = stage_of(desc)
        return self._many(requests, [self._key(r, "complete") for r in requests], stage,
                          lambda r: self._sample(self._ids(r.prompt), r))

    # -- choose ---------------------------------------------------------------------
    def _sequence_logprob(self, ids: list[int], start: int) -> float:
        """Sum of log P(ids[k] | ids[:k]) for k >= start. The KV cache of the longest prefix
        shared with what was scored before is kept (eval() drops the rest)."""
        import llama_cpp

        llm = self._load_scorer()
        keep = llm.n_tokens = common_prefix(list(llm.input_ids[: llm.n_tokens]), ids[:start - 1])
        llm.eval(ids[keep:start])  # at least one token, so the last logits predict ids[start]
        total = 0.0
        for k in range(start, len(ids)):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),))
            top = float(logits.max())
            total += float(logits[ids[k]]) - top - math.log(float(np.exp(logits - top).sum()))
            if k + 1 < len(ids):
                llm.eval([ids[k]])
        return total

    def option_scores(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> dict[str, float]:
        """Sum of log-probabilities of each option's tokens after the prompt."""
        prompt = self._prompt_text(messages, prefill)
        p_ids = self._ids(prompt)
        scores = {}
        for opt in options:
            ids = self._ids(prompt + opt)
            # the boundary may merge tokens: score from the first position that differs
            start = max(1, common_prefix(p_ids, ids))
            scores[opt] = self._sequence_logprob(ids, start) if start < len(ids) else 0.0
        self.usage.add([Completion("", prompt_tokens=len(p_ids))], stage=CLASSIFY.name)
        return scores

    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        options = list(options)
        req = ChatRequest.make(messages, temperature=0.0, prefill=prefill)
        return choose_by_likelihood(self, self._key(req, "choose:" + "|".join(options)), messages, options, prefill)

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        return [self.choose(m, options, p) for m, p in items]

    def close(self) -> None:
        for llm in (self._llm, self._scorer):
            if llm is not None:
                llm.close()
                atexit.unregister(llm.close)
        self._llm = self._scorer = None
        if self.cache:
            self.cache.close()
