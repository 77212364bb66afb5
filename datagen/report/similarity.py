"""ROUGE-L overlap, as in Self-Instruct's Fig. 4: each generated instruction against its
most similar seed, and against its nearest other instruction in the dataset.

Uses the dedup filter's exact incremental index (datagen.filters.rouge.RougeIndex), so
the report and the filter agree on what "similar" means.
"""

from __future__ import annotations

import random
from typing import Any

from .stats import unit_histogram


def _index():
    from ..filters.rouge import RougeIndex

    return RougeIndex()


def _best(index, text: str) -> float:
    hit = index.most_similar(text)
    if not hit:
        return 0.0
    score = hit[0]
    return float(score) if score is not None and score >= 0 else 0.0


def _progress(items, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="instr", disable=None if show else True, leave=False)  # None: bars only on a terminal


def sample(texts: list[str], limit: int | None, seed: int = 0) -> list[str]:
    """At most `limit` texts, chosen with a fixed seed so reruns agree."""
    if limit is None or len(texts) <= limit:
        return list(texts)
    return random.Random(seed).sample(texts, limit)


def seed_rouge(generated: list[str], seeds: list[str], limit: int | None = 5000,
               progress: bool = False) -> dict[str, Any] | None:
    """Histogram of max ROUGE-L between each generated instruction and the seeds."""
    if not seeds or not generated:
        return None
    index = _index()
    for s in seeds:
        index.add(s)
    picked = sample(generated, limit)
    scores = [_best(index, t) for t in _progress(picked, "rouge vs seeds", progress)]
    out = unit_histogram(scores)
    out.update(compared=len(picked), of=len(generated), seeds=len(seeds),
               over_0_7=sum(s > 0.7 for s in scores))
    return out


def nearest_rouge(texts: list[str], limit: int | None = 2000,
                  progress: bool = False) -> dict[str, Any] | None:
    """Histogram of each instruction's ROUGE-L with its nearest *other* instruction.

    Exact: a forward pass (compared with earlier texts) and a backward pass (later
    texts) over the incremental index, keeping the max of the two."""
    if len(texts) < 2:
        return None
    picked = sample(texts, limit)
    n = len(picked)
    best = [0.0] * n
    for direction in ("forward", "backward"):
        order = range(n) if direction == "forward" else range(n - 1, -1, -1)
        index = _index()
        for i in _progress(list(order), f"rouge nearest ({direction})", progress):
            if i != (0 if direction == "forward" else n - 1):
                best[i] = max(best[i], _best(index, picked[i]))
            index.add(picked[i])
    out = unit_histogram(best)
    out.update(compared=n, of=len(texts), over_0_7=sum(s > 0.7 for s in best))
    return out
