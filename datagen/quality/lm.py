"""Scores from a local causal LM: IFD and perplexity of each record's output.

IFD (Instruction-Following Difficulty, Li et al. 2023, "From Quantity to Quality") is
the mean token loss of the output given the chat-formatted instruction, divided by the
mean loss of the output alone. Near 1 the instruction barely helps the model predict the
answer (hard, informative pairs score high); above 1 the instruction and answer do not fit
and the pair is usually bad. Perplexity is exp(mean loss of the output alone): high for
garbled or unusual text.

The model is the embedded SmolLM2-135M (or any local HF folder), on the CPU. Records are
scored in right-padded batches with attention masks, sorted by length so a batch pads
little; per-sequence losses are masked means, equal to one-at-a-time forward passes.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

from ..records import Record


def prompt_and_answer(record: Record) -> tuple[list[dict], str]:
    """(messages before the answer, answer): the last assistant turn of a conversation,
    else the output after the instruction (and input)."""
    msgs = record.messages or []
    last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
    if last is not None and last > 0:
        return [dict(m) for m in msgs[:last]], msgs[last].get("content") or ""
    user = record.instruction.strip()
    if record.input.strip():
        user += "\n\n" + record.input.strip()
    return [{"role": "user", "content": user}], record.output


@dataclass
class LMScorer:
    """Computes both losses once per record; `ifd()` and `perplexity()` are views on them."""

    model_path: str | None = None
    batch_size: int = 32
    max_length: int = 1024
    threads: int | None = 1
    onednn: bool = True  # fp32 matmuls through oneDNN, not MKL (see _onednn_linears)
    _model: object = field(default=None, repr=False)
    _tok: object = field(default=None, repr=False)

    def load(self):
        if self._model is None:
            from ..llm.embedded import load_smollm2

            self._model, self._tok = load_smollm2(threads=self.threads, path=self.model_path)
            if self._tok.pad_token_id is None:
                self._tok.pad_token = self._tok.eos_token
        return self._model, self._tok

    @property
    def model_name(self) -> str:
        from pathlib import Path

        from ..llm.embedded import SMOLLM2_NAME

        return Path(self.model_path).name if self.model_path else SMOLLM2_NAME

    def encode(self, record: Record) -> tuple[list[int], list[int]] | None:
        """(prompt ids, answer ids), truncated to max_length; None without an answer."""
        _, tok = self.load()
        messages, answer = prompt_and_answer(record)
        a_ids = tok(answer, add_special_tokens=False)["input_ids"]
        if len(a_ids) < 2:
            return None  # the answer alone needs a token to predict from
        p_text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        p_ids = tok(p_text, add_special_tokens=False)["input_ids"]
        a_ids = a_ids[: max(2, self.max_length // 2)] if len(p_ids) + len(a_ids) > self.max_length else a_ids
        p_ids = p_ids[-(self.max_length - len(a_ids)):] if len(p_ids) + len(a_ids) > self.max_length else p_ids
        return p_ids, a_ids

    def mean_losses(self, seqs: Sequence[tuple[list[int], int]]) -> list[float]:
        """Mean next-token loss over positions >= start of each (ids, start), batched."""
        import torch

        model, tok = self.load()
        out: list[float] = [0.0] * len(seqs)
        # conditioned and answer-only sequences apart, each by length, so a batch pads
        # little and its prompts share the chat template's opening
        order = sorted(range(len(seqs)), key=lambda i: (seqs[i][1] > 1, len(seqs[i][0])))
        for idx in self._batches(order, [seqs[i][1] > 1 for i in order]):
            # a sequence's last token predicts nothing and, the attention being causal,
            # no other position reads it: the model runs on s[:-1] and predicts s[1:]
            width = max(len(seqs[i][0]) for i in idx) - 1
            ids = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
            labels = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            src = torch.zeros((len(idx), width), dtype=torch.bool)  # positions a loss is taken at
            for row, i in enumerate(idx):
                s, start = seqs[i]
                ids[row, : len(s) - 1] = torch.tensor(s[:-1])
                labels[row, : len(s) - 1] = torch.tensor(s[1:])
                mask[row, : len(s) - 1] = 1
                src[row, max(start, 1) - 1: len(s) - 1] = True  # position k predicts token k+1
            shared = self._shared_prefix([seqs[i] for i in idx]) if len(idx) > 1 else 0
            rows = src.nonzero()[:, 0]
            with torch.inference_mode(), _onednn_linears(model, self.onednn):
                hidden = self._hidden(model, ids, mask, shared)
                nll = _head_nll(model.get_output_embeddings(), hidden[src[:, shared:]], labels[src])
            sums = torch.zeros(len(idx), dtype=torch.float64).index_add_(0, rows, nll.double())
            per = sums / src.sum(dim=1)
            for row, i in enumerate(idx):
                out[i] = float(per[row])
        return out

    def _batches(self, order: list[int], groups: list[bool]) -> list[list[int]]:
        """Runs of `order` of at most batch_size that never mix two groups (answer-alone and
        conditioned sequences): a mixed batch pads the short ones to the long ones' width
        and shares no prefix."""
        out: list[list[int]] = []
        for k, i in enumerate(order):
            if not out or len(out[-1]) >= self.batch_size or groups[k] != groups[k - 1]:
                out.append([])
            out[-1].append(i)
        return out

    @staticmethod
    def _shared_prefix(seqs: Sequence[tuple[list[int], int]]) -> int:
        """Tokens every sequence of a batch starts with, before any loss is taken."""
        first = seqs[0][0]
        n = min(min(start for _, start in seqs) - 1, min(len(s) for s, _ in seqs) - 1)
        for s, _ in seqs[1:]:
            k = 0
            while k < n and s[k] == first[k]:
                k += 1
            n = k
        return max(n, 0)

    @staticmethod
    def _hidden(model, ids, mask, shared: int):
        """Last hidden states at positions >= shared. The shared prefix (the chat
        template's system turn) is run once and its KV cache repeated for the batch."""
        from ..llm.local import _cache_kwarg, _no_deprecation_noise

        body = model.base_model
        if shared < 2:
            return body(input_ids=ids, attention_mask=mask).last_hidden_state[:, shared:]
        from transformers import DynamicCache

        name = _cache_kwarg(body)  # `cache` on transformers 5.x, `past_key_values` before
        with _no_deprecation_noise():
            pre = DynamicCache()
            out = body(input_ids=ids[:1, :shared], use_cache=True, **{name: pre})
            kv = out.get(name)
            pre = kv if kv is not None else pre  # filled in place; older versions return a new one
            pre.batch_repeat_interleave(len(ids))
            return body(input_ids=ids[:, shared:], attention_mask=mask, use_cache=True,
                        **{name: pre}).last_hidden_state

    def losses(self, records: Sequence[Record], conditioned: bool = True) -> list[tuple[float, float] | None]:
        """(loss of answer given prompt, loss of answer alone) per record (the first is
        NaN when not `conditioned`)."""
        enc = [self.encode(r) for r in records]
        live = [i for i, e in enumerate(enc) if e is not None]
        seqs = []
        for i in live:
            p, a = enc[i]
            if conditioned:
                seqs.append((p + a, len(p)))
            seqs.append((a, 1))
        flat = self.mean_losses(seqs)
        step = 2 if conditioned else 1
        out: list[tuple[float, float] | None] = [None] * len(records)
        for k, i in enumerate(live):
            out[i] = (flat[step * k] if conditioned else math.nan, flat[step * k + step - 1])
        return out


HEAD_ROWS = 128


def _head_nll(head, hidden, targets):
    """-log p(target) under the output head, only at the given (loss) positions,
    HEAD_ROWS rows at a time: a batch's ~1,500 x 49k logits at once are 300 MB, written and
    read back from memory twice; a chunk's (25 MB) stay in the cache."""
    import torch

    out = []
    for k in range(0, len(hidden), HEAD_ROWS):
        logits = head(hidden[k: k + HEAD_ROWS]).float()
        t = targets[k: k + HEAD_ROWS].unsqueeze(-1)
        out.append(-torch.log_softmax(logits, dim=-1).gather(-1, t).squeeze(-1))
    return torch.cat(out) if out else hidden.new_zeros(0)


@contextmanager
def _onednn_linears(model, enabled: bool):
    """Every nn.Linear of `model` (the output head too) multiplies through oneDNN while
    inside. PyTorch's CPU build sends fp32 linear layers to MKL, which on AMD CPUs runs
    about half as fast as oneDNN (measured on an EPYC: 40-90 vs 110-200 GFLOPS a core).
    Same fp32 arithmetic in another summation order: losses agree with MKL's to ~2e-5
    relative, IFD values to ~1e-5; batched and one at a time (both oneDNN) to ~1e-6. The model is unchanged
    outside (its other users, and plain reference passes, still get MKL); the oneDNN copy
    of each weight is kept on the module, made once."""
    import torch

    if not enabled or not torch.backends.mkldnn.is_available():
        yield
        return
    fused = _fused_linear()
    patched = []
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and mod.weight.dtype == torch.float32:
            packed = getattr(mod, "_datagen_onednn", None)
            if packed is None or packed[0] is not mod.weight or packed[1] != fused:
                w = mod.weight.detach()
                packed = (mod.weight, fused, torch.ops.mkldnn._reorder_linear_weight(w) if fused else w.to_mkldnn())
                mod._datagen_onednn = packed
            mod.forward = partial(_onednn_forward if fused else _onednn_forward_converting, packed[2], mod.bias)
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            del mod.forward


def _fused_linear() -> bool:
    """Whether this torch has oneDNN's linear on plain (dense) tensors, the op torch.compile
    emits for CPU linears: no conversion of each activation into and out of oneDNN's own
    tensor type, which at a batch's ~2,000 rows cost as much as the product itself."""
    import torch

    try:
        torch.ops.mkldnn._linear_pointwise.default
        torch.ops.mkldnn._reorder_linear_weight.default
    except (AttributeError, RuntimeError):
        return False
    return True


def _onednn_forward(weight, bias, x):
    import torch

    y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]).contiguous(), weight, None, "none", [], "")
    y = y.view(*x.shape[:-1], y.shape[-1])
    return y if bias is None else y + bias


def _onednn_forward_converting(weight, bias, x):
    import torch

    flat = x.reshape(-1, x.shape[-1]).contiguous().to_mkldnn()
    y = torch._C._nn.mkldnn_linear(flat, weight, None).to_dense().view(*x.shape[:-1], weight.shape[0])
    return y if bias is None else y + bias


def _fmt(x: float) -> float:
    return round(x, 6)


@dataclass
class IFDScorer:
    lm: LMScorer
    name: str = "ifd"

    def score_many(self, records: Sequence[Record]) -> list[dict]:
        out = []
        for pair in self.lm.losses(records):
            if pair is None:
                out.append({"value": None, "error": "no_answer", "model": self.lm.model_name})
                continue
            cond, alone = pair
            out.append({"value": _fmt(cond / alone) if alone > 0 else None, "loss_given_instruction": _fmt(cond),
                        "loss_alone": _fmt(alone), "model": self.lm.model_name,
                        **({} if alone > 0 else {"error": "zero_loss"})})
        return out


@dataclass
class PerplexityScorer:
    lm: LMScorer
    name: str = "perplexity"

    def score_many(self, records: Sequence[Record]) -> list[dict]:
        out = []
        for pair in self.lm.losses(records, conditioned=False):
            if pair is None:
                out.append({"value": None, "error": "no_answer", "model": self.lm.model_name})
            else:
                out.append({"value": _fmt(math.exp(pair[1])), "loss_alone": _fmt(pair[1]),
                            "model": self.lm.model_name})
        return out
