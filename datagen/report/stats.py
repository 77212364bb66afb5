"""Pure numbers about a set of records: counts, shares, length histograms, runs.

Everything here is deterministic and free of plotting, so stats.json can be tested on
tiny fixtures with known answers.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

from ..records import Record
from ..text import detect_lang, length_units

# Self-Instruct (Wang et al., ACL 2023, arXiv:2212.10560), Table 1 and Sec. 3.
PAPER = {
    "source": "Self-Instruct (Wang et al. 2023), Table 1",
    "seed_tasks": 175,
    "instructions": 52445,
    "classification_instructions": 11584,
    "classification_share": round(11584 / 52445, 4),
    "instances": 82439,
    "empty_input_instances": 35878,
    "empty_input_share": round(35878 / 82439, 4),
    "avg_instruction_len": 15.9,
    "avg_nonempty_input_len": 12.7,
    "avg_output_len": 18.9,
}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def distinct_instructions(records: Iterable[Record]) -> dict[str, Record]:
    """First record of each distinct instruction (whitespace-trimmed), in order."""
    out: dict[str, Record] = {}
    for r in records:
        out.setdefault(r.instruction.strip(), r)
    return out


def counts(records: list[Record]) -> dict[str, Any]:
    """Record-level and instruction-level counts, next to the paper's where they apply."""
    tasks = distinct_instructions(records)
    typed = [r.meta.get("task_type") for r in tasks.values() if r.meta.get("task_type")]
    n_clf = sum(t == "classification" for t in typed)
    empty = sum(not r.input.strip() for r in records)
    langs = Counter(detect_lang([r.instruction, r.input, r.output]) for r in records)
    sources = Counter(r.meta.get("source") or "generated" for r in records)
    return {
        "records": len(records),
        "distinct_instructions": len(tasks),
        "instances_per_instruction": round(len(records) / len(tasks), 2) if tasks else None,
        "typed_instructions": len(typed),
        "classification_instructions": n_clf,
        # share among instructions whose type is known; None when no generator said
        "classification_share": _share(n_clf, len(typed)),
        "empty_input": empty,
        "empty_input_share": _share(empty, len(records)),
        "languages": dict(langs.most_common()),
        "multi_turn": sum(r.is_multi_turn for r in records),
        "multi_turn_share": _share(sum(r.is_multi_turn for r in records), len(records)),
        "sources": dict(sources.most_common()),
    }


def histogram(values: list[float], max_bins: int = 30, clip_quantile: float = 0.99) -> dict[str, Any]:
    """Integer-width bins from 0 up to the `clip_quantile` value; longer values land in
    `overflow` so one 2,000-word answer does not flatten the whole picture."""
    if not values:
        return {"edges": [], "counts": [], "overflow": 0, "n": 0, "mean": None, "median": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)
    cap = ordered[min(n - 1, math.ceil(clip_quantile * n) - 1)]
    width = max(1, math.ceil((cap + 1) / max_bins))
    nbins = math.ceil((cap + 1) / width)
    counts_ = [0] * nbins
    overflow = 0
    for v in ordered:
        i = int(v // width)
        if i < nbins:
            counts_[i] += 1
        else:
            overflow += 1
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "edges": [i * width for i in range(nbins + 1)],
        "counts": counts_,
        "overflow": overflow,
        "n": n,
        "mean": round(sum(ordered) / n, 2),
        "median": median,
        "max": ordered[-1],
    }


def unit_histogram(values: list[float], width: float = 0.05) -> dict[str, Any]:
    """Fixed bins over [0, 1] (ROUGE-L scores), the last bin closed at 1."""
    nbins = round(1 / width)
    counts_ = [0] * nbins
    for v in values:
        counts_[min(nbins - 1, int(v / width + 1e-9))] += 1
    ordered = sorted(values)
    n = len(ordered)
    median = None
    if n:
        mid = n // 2
        median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "edges": [round(i * width, 4) for i in range(nbins + 1)],
        "counts": counts_,
        "n": n,
        "mean": round(sum(ordered) / n, 4) if n else None,
        "median": round(median, 4) if median is not None else None,
        "max": round(ordered[-1], 4) if n else None,
    }


def lengths(records: list[Record]) -> dict[str, Any]:
    """Length distributions: instruction (per distinct instruction, as in the paper),
    non-empty input and output (per record). Words; characters for Chinese."""
    instr = [length_units(t) for t in distinct_instructions(records)]
    inputs = [length_units(r.input) for r in records if r.input.strip()]
    outputs = [length_units(r.output) for r in records]
    return {
        "unit": "words (characters for CJK)",
        "instruction": histogram(instr),
        "input": histogram(inputs),
        "output": histogram(outputs),
        "avg_instruction_len": _mean(instr),
        "avg_nonempty_input_len": _mean(inputs),
        "avg_output_len": _mean(outputs),
    }


def _sum_usage(usages: Iterable[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for u in usages:
        for k, v in (u or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] += v
    return dict(total)


def runs(lineage: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> dict[str, Any]:
    """The funnel and token usage of each run that built the version (newest first),
    with totals. Without a manifest the funnel comes from the rejects file."""
    rows = []
    for m in lineage:
        rows.append({
            "version": m.get("version"),
            "parent": m.get("parent"),
            "created": m.get("created"),
            "generator": m.get("generator"),
            "backend": m.get("backend"),
            "model": m.get("model"),
            "counts": m.get("counts") or {},
            "funnel": m.get("funnel") or {},
            "usage": m.get("usage") or {},
        })
    if lineage:
        funnel = dict(lineage[0].get("funnel") or {})
    else:
        reasons = Counter(r.get("reason") or "unknown" for r in rejects)
        funnel = {"dropped": dict(reasons.most_common())} if rejects else {}
    by_stage: dict[str, Counter] = {}
    for r in rejects:
        by_stage.setdefault(r.get("stage") or "instruction", Counter())[r.get("reason") or "unknown"] += 1
    return {
        "runs": rows,
        "funnel": funnel,
        "rejects_by_stage": {k: dict(v.most_common()) for k, v in by_stage.items()},
        "usage_total": _sum_usage(r["usage"] for r in rows),
    }


def paper_comparison(c: dict[str, Any], ln: dict[str, Any], seeds: int | None) -> list[dict[str, Any]]:
    """Rows of (metric, this dataset, Self-Instruct) for the summary table."""
    return [
        {"metric": "seed tasks", "ours": seeds, "paper": PAPER["seed_tasks"]},
        {"metric": "distinct instructions", "ours": c["distinct_instructions"], "paper": PAPER["instructions"]},
        {"metric": "instances (records)", "ours": c["records"], "paper": PAPER["instances"]},
        {"metric": "classification share", "ours": c["classification_share"], "paper": PAPER["classification_share"]},
        {"metric": "empty-input share", "ours": c["empty_input_share"], "paper": PAPER["empty_input_share"]},
        {"metric": "avg instruction length", "ours": ln["avg_instruction_len"], "paper": PAPER["avg_instruction_len"]},
        {"metric": "avg non-empty input length", "ours": ln["avg_nonempty_input_len"],
         "paper": PAPER["avg_nonempty_input_len"]},
        {"metric": "avg output length", "ours": ln["avg_output_len"], "paper": PAPER["avg_output_len"]},
    ]
