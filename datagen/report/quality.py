"""The quality part of a report: per scorer, the score histogram with the selection
threshold, kept/dropped counts, the lowest- and highest-scoring records, and Spearman rank
agreement between scorers (numpy ranks; scipy is not needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..records import Record

BINS = 20
EXTREMES = 3


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their positions, as scipy's."""
    a = np.asarray(x, dtype=float)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=float)
    sorted_a = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson correlation of the ranks; None when undefined."""
    if len(x) < 3:
        return None
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _value(r: Record, name: str):
    s = (r.meta.get("scores") or {}).get(name)
    return s.get("value") if isinstance(s, dict) else None


def _sample(r: Record, name: str) -> dict[str, Any]:
    s = r.meta["scores"][name]
    return {"value": s.get("value"), "reason": s.get("reason"), "instruction": r.instruction[:300],
            "output": r.output[:300]}


def _thresholds(lineage: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest selection per scorer in the version's history."""
    out: dict[str, dict[str, Any]] = {}
    for m in lineage:
        sel = m.get("selection")
        if sel and sel.get("scorer") not in out:
            out[sel["scorer"]] = sel
    return out


def quality_stats(records: list[Record], rejects: list[dict[str, Any]] | None = None,
                  lineage: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """None when no record carries scores. `rejects` of a selection (with their scores)
    are counted as dropped, so the histogram shows both sides of the threshold."""
    dropped = [Record.from_dict(j["record"]) for j in rejects or []
               if j.get("stage") == "select" and isinstance(j.get("record"), dict)]
    names = sorted({n for r in records + dropped for n in (r.meta.get("scores") or {})})
    if not names:
        return None
    thresholds = _thresholds(lineage or [])
    scorers: dict[str, Any] = {}
    for name in names:
        kept = [(r, v) for r in records if (v := _value(r, name)) is not None]
        gone = [(r, v) for r in dropped if (v := _value(r, name)) is not None]
        vals = [v for _, v in kept + gone]
        failed = sum(1 for r in records + dropped if name in (r.meta.get("scores") or {}) and _value(r, name) is None)
        if not vals:
            scorers[name] = {"n": 0, "failed": failed}
            continue
        lo, hi = float(min(vals)), float(max(vals))
        if name == "judge":
            edges = np.arange(0.75, 5.5, 0.5)  # one bar per half point of the 1–5 scale
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
        ranked = sorted(kept + gone, key=lambda t: t[1])
        sel = thresholds.get(name) or {}
        scorers[name] = {
            "n": len(vals), "failed": failed, "mean": round(float(np.mean(vals)), 4),
            "median": round(float(np.median(vals)), 4), "min": lo, "max": hi,
            "edges": [round(float(e), 6) for e in edges],
            "kept_counts": np.histogram([v for _, v in kept], edges)[0].tolist(),
            "dropped_counts": np.histogram([v for _, v in gone], edges)[0].tolist(),
            "kept": len(kept), "dropped": len(gone),
            "threshold": {k: sel.get(k) for k in ("min", "max", "budget") if sel.get(k) is not None},
            "lowest": [_sample(r, name) for r, _ in ranked[:EXTREMES]],
            "highest": [_sample(r, name) for r, _ in ranked[::-1][:EXTREMES]],
        }
    agreement = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = [(va, vb) for r in records + dropped
                     if (va := _value(r, a)) is not None and (vb := _value(r, b)) is not None]
            rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
            agreement.append({"a": a, "b": b, "n": len(pairs), "spearman": None if rho is None else round(rho, 4)})
    return {"scorers": scorers, "agreement": agreement}


def quality_plot(label: str, st: dict[str, Any], path: Path) -> Path | None:
    """One histogram per scorer, kept and dropped stacked, the threshold dashed."""
    q = st.get("quality")
    if not q:
        return None
    shown = [(n, s) for n, s in q["scorers"].items() if s.get("n")]
    if not shown:
        return None
    from .plots import COLORS, _save, setup

    plt = setup()
    fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 3.4), squeeze=False)
    for ax, (name, s) in zip(axes[0], shown):
        edges = s["edges"]
        widths = [b - a for a, b in zip(edges, edges[1:])]
        ax.bar(edges[:-1], s["kept_counts"], width=widths, align="edge", color=COLORS[2], label="kept",
               edgecolor="white", linewidth=0.5)
        if any(s["dropped_counts"]):
            ax.bar(edges[:-1], s["dropped_counts"], width=widths, align="edge", bottom=s["kept_counts"],
                   color=COLORS[3], label="dropped", edgecolor="white", linewidth=0.5)
        for key in ("min", "max"):
            if key in s["threshold"]:
                ax.axvline(s["threshold"][key], color="black", linestyle="--", linewidth=1.2,
                           label=f"{key} {s['threshold'][key]}")
        ax.set_xlabel(name)
        ax.set_ylabel("records")
        ax.margins(y=0.2)  # room for the legend above the bars
        ax.set_title(f"{label}: {name}\nn={s['n']}, mean {s['mean']}, kept {s['kept']}, dropped {s['dropped']}"
                     + (f", failed {s['failed']}" if s["failed"] else ""), fontsize=9)
        ax.legend(fontsize=8)
    return _save(fig, path)
