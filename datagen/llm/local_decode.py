"""The local backend's decode loop: transformers' sampling, with finished rows leaving the batch.

`model.generate` keeps every row of a batch in every forward step until the last row ends,
so one reply that runs to `max_tokens` makes the whole batch pay for it; with
`num_return_sequences` it also computes the same prompt n times. Here the prompt of each
request is computed once (its KV cache repeated for the n samples), and a row that has hit
EOS, a stop string or its token budget leaves the batch (and the KV cache) at once.

The logits go through the processors generate() builds for the same settings
(repetition penalty, then temperature, top-k 50, top-p) and tokens are drawn the same way
(`torch.multinomial`, or argmax when greedy), so a lone row gets the very tokens generate()
gives it. Two deliberate differences: the repetition penalty sees a row's own tokens, not
the left padding (generate() penalizes the pad token, which is EOS here, only in padded
rows), and once rows have left, the random draws of a sampled batch fall differently.
"""

from __future__ import annotations

from typing import Callable, Sequence


def _penalize(scores, hist, penalty: float):
    """transformers' RepetitionPenaltyLogitsProcessor over `hist`, where the index
    scores.shape[1] (a dummy column) stands for padding."""
    import torch

    ext = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
    got = ext.gather(1, hist)
    got = torch.where(got < 0, got * penalty, got / penalty)
    return ext.scatter(1, hist, got)[:, :-1]


def _filled(out, name: str, kv):
    """The cache after a forward: the same object, filled in place (older versions return a new one)."""
    got = out.get(name)
    return kv if got is None else got


def decode(model, input_ids, attention_mask, *, n: int, max_new_tokens: int, sample: bool,
           temperature: float, top_p: float, repetition_penalty: float, eos_ids: Sequence[int],
           cache_name: str, stopped: Callable[[list[int]], bool] | None = None) -> list[list[int]]:
    """New token ids of each row (request i's samples are rows i*n .. i*n+n-1), each
    ending with its EOS token when it ended on one. `input_ids` is left-padded."""
    import torch
    from transformers import DynamicCache
    from transformers.generation.logits_process import (
        LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

    warpers = LogitsProcessorList()
    if sample:
        if temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(temperature))
        warpers.append(TopKLogitsWarper(50))  # generate()'s default top_k
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p))
    vocab = model.config.vocab_size
    eos = torch.tensor(sorted(set(eos_ids)), dtype=torch.long)
    mask = attention_mask.long()
    kv = DynamicCache()
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True,
                logits_to_keep=1, **{cache_name: kv})
    kv = _filled(out, cache_name, kv)
    logits = out.logits[:, -1, :].float()
    hist = input_ids.masked_fill(mask == 0, vocab)  # pads point at the dummy column
    if n > 1:
        kv.batch_repeat_interleave(n)
        logits, mask, hist = (t.repeat_interleave(n, dim=0) for t in (logits, mask, hist))
    next_pos = mask.sum(dim=1)
    rows = logits.shape[0]
    alive = torch.arange(rows)
    new: list[list[int]] = [[] for _ in range(rows)]
    for step in range(max_new_tokens):
        scores = _penalize(logits, hist, repetition_penalty) if repetition_penalty != 1.0 else logits
        if sample:
            scores = warpers(hist, scores)
            tok = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            tok = torch.argmax(scores, dim=-1)
        done = torch.isin(tok, eos)
        for j, (r, t) in enumerate(zip(alive.tolist(), tok.tolist())):
            new[r].append(t)
            if not done[j] and stopped is not None and stopped(new[r]):
                done[j] = True
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            kv.batch_select_indices(keep)
            alive, tok, mask, hist, next_pos = (t[keep] for t in (alive, tok, mask, hist, next_pos))
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        hist = torch.cat([hist, tok[:, None]], dim=1)
        out = model(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                    use_cache=True, **{cache_name: kv})
        kv = _filled(out, cache_name, kv)
        logits = out.logits[:, -1, :].float()
        next_pos = next_pos + 1
    return new
