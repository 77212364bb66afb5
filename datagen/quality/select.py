"""Selection: keep the best records by one score, above a threshold or within a budget.

Score-first and diversity-aware, as DEITA does: records are taken best first, and one
whose instruction embedding is closer than `diversity` (cosine) to an already selected
record is skipped, so a budget is not spent on ten phrasings of one task. Selected records
keep their original order; every other record becomes a reject with its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import ConfigError
from ..records import Record
from . import SCORERS, score_value


@dataclass
class SelectConfig:
    """YAML `select:` section and `datagen select` flags."""

    by: str = field(default="judge", metadata={"help": "The score (meta.scores.<by>) to rank by.",
                                                "choices": tuple(SCORERS)})
    min: float | None = field(default=None, metadata={"help": "Keep records scoring at least this."})
    max: float | None = field(default=None, metadata={
        "help": "Keep records scoring at most this (perplexity: lower is better)."})
    budget: int | None = field(default=None, metadata={"help": "Keep at most this many, best first.", "min": 1})
    diversity: float | None = field(default=None, metadata={
        "help": "Skip a record whose instruction embedding cosine with a selected one exceeds this "
                "(DEITA uses 0.9; `datagen select --budget` defaults to it).", "gt": 0, "max": 1,
        "off_flag": "--no-diversity"})
    embed_model: str | None = field(default=None, metadata={
        "help": "Local sentence-transformers folder [default: embedded MiniLM]."})
    allow_empty: bool = field(default=False, metadata={
        "help": "Publish a version even when no record is selected (otherwise nothing is published).",
        "flag": "--allow-empty"})

    def __post_init__(self):
        from ..config import validate

        validate(self)
        if self.min is None and self.max is None and self.budget is None:
            raise ConfigError("select needs a threshold (--min/--max) or a --budget")

    def public(self) -> dict:
        return {"by": self.by, "min": self.min, "max": self.max, "budget": self.budget,
                "diversity": self.diversity}


def check_scored(records: Sequence[Record], by: str, where: str = "") -> None:
    """ConfigError when no record carries score `by` (not even a failed one): selecting
    by it would reject everything. The message names the scores the records do have."""
    have: set[str] = set()
    for r in records:
        have.update((r.meta.get("scores") or {}).keys())
    if records and by not in have:
        found = ", ".join(sorted(have)) if have else "none (run `datagen score` first)"
        raise ConfigError(f"{where}no record has a '{by}' score; scores present: {found}")


def _reject(rec: Record, reason: str, by: str, **detail) -> dict:
    return {"reason": reason, "filter": "select", "stage": "select", "record": rec.to_dict(),
            "detail": {"by": by, "score": score_value(rec, by), **detail}}


def select_records(records: Sequence[Record], cfg: SelectConfig,
                   encoder: Callable[[Sequence[str]], "object"] | None = None
                   ) -> tuple[list[Record], list[dict], dict]:
    """(selected in original order, reject rows, counts)."""
    import numpy as np

    records = list(records)
    check_scored(records, cfg.by)
    higher = SCORERS[cfg.by]
    rejects: list[dict] = []
    counts = {"candidates": len(records), "selected": 0, "below_threshold": 0, "budget": 0, "not_diverse": 0}
    ranked: list[tuple[int, float]] = []
    for i, r in enumerate(records):
        v = score_value(r, cfg.by)
        if v is None:
            s = (r.meta.get("scores") or {}).get(cfg.by)
            reason = (s.get("error") if isinstance(s, dict) else None) or "unscored"
            rejects.append(_reject(r, reason, cfg.by))
            counts[reason] = counts.get(reason, 0) + 1
        elif (cfg.min is not None and v < cfg.min) or (cfg.max is not None and v > cfg.max):
            rejects.append(_reject(r, "below_threshold", cfg.by, min=cfg.min, max=cfg.max))
            counts["below_threshold"] += 1
        else:
            ranked.append((i, v))
    # best first; ties keep the original order
    ranked.sort(key=lambda t: (-t[1] if higher else t[1], t[0]))
    vecs = None
    if cfg.diversity is not None and ranked:
        if encoder is None:
            from ..filters.encoder import load_encoder

            encoder = load_encoder(cfg.embed_model)
        vecs = np.asarray(encoder([records[i].instruction for i, _ in ranked]), dtype=np.float32)
    chosen: list[int] = []  # positions in `ranked`
    for k, (i, v) in enumerate(ranked):
        rec = records[i]
        if cfg.budget is not None and len(chosen) >= cfg.budget:
            rejects.append(_reject(rec, "budget", cfg.by, budget=cfg.budget))
            counts["budget"] += 1
            continue
        if vecs is not None and chosen:
            sims = vecs[chosen] @ vecs[k]
            j = int(np.argmax(sims))
            if sims[j] > cfg.diversity:
                near = records[ranked[chosen[j]][0]]
                rejects.append(_reject(rec, "not_diverse", cfg.by, nearest=near.instruction,
                                       cosine=round(float(sims[j]), 4)))
                counts["not_diverse"] += 1
                continue
        chosen.append(k)
    keep = sorted(ranked[k][0] for k in chosen)
    counts["selected"] = len(keep)
    return [records[i] for i in keep], rejects, counts
