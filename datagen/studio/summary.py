"""What the datasets and version pages show, as plain dicts (the API returns the same).

Everything is read from the store: manifests, rejects.jsonl (streamed once per version and
kept in memory only as a summary: versions never change), eval summaries (eval/history.py)
(a version's report figures: reports.py).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import DatagenError
from ..store import DatasetStore, DatasetVersion
from .index import medians_if_indexed

REJECT_EXAMPLES = 12
# keys of a reject's detail that hold the kept text it was measured against
SIMILAR_KEYS = ("most_similar", "similar_to", "duplicate_of", "nearest", "kept", "parent_text")


def cost_of(manifest: dict[str, Any]) -> float | None:
    ledger = (manifest.get("usage") or {}).get("ledger") or {}
    d = (ledger.get("total") or {}).get("dollars")
    return d if isinstance(d, (int, float)) else None


def eval_score(summary: dict[str, Any] | None) -> float | None:
    """The headline number of an eval summary: the adapter's ROUGE-L (else its first metric)."""
    if not summary:
        return None
    adapter = summary.get("adapter") or {}
    for key in ("rouge_l", *adapter.keys()):
        v = adapter.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return round(float(v), 4)
    return None


def eval_history(store: DatasetStore, name: str) -> dict[str, dict[str, Any]]:
    from ..eval.history import load_history

    try:
        return {s["version"]: s for s in load_history(store, name) if s.get("version")}
    except Exception:  # a malformed eval file must not take the dashboard down
        return {}


def version_row(dv: DatasetVersion, evals: dict[str, dict]) -> dict[str, Any]:
    m = dv.manifest
    review = m.get("review") or {}
    return {
        "name": dv.name, "version": dv.version, "ref": dv.ref, "parent": m.get("parent"),
        "created": m.get("created"), "generator": m.get("generator"), "model": m.get("model"),
        "backend": m.get("backend"), "lang": m.get("lang"),
        "records": (m.get("counts") or {}).get("records"), "added": (m.get("counts") or {}).get("added"),
        "rejects": (m.get("counts") or {}).get("rejects"), "cost": cost_of(m),
        "eval": eval_score(evals.get(dv.version)), "reviewed": bool(review),
        "medians": medians_if_indexed(dv) or {},
    }


def _row(store: DatasetStore, name: str, version: str, evals: dict[str, dict]) -> dict[str, Any]:
    """A version's dashboard row; an unreadable one (a broken manifest) says why."""
    try:
        return version_row(store.resolve(f"{name}@{version}"), evals)
    except DatagenError as e:
        return {"name": name, "version": version, "ref": f"{name}@{version}", "error": str(e), "medians": {}}


def datasets(store: DatasetStore) -> list[dict[str, Any]]:
    """Every dataset with all its versions (oldest first), for the dashboard."""
    out = []
    for name in store.names():
        evals = eval_history(store, name)
        versions = [_row(store, name, v, evals) for v in store.versions(name)]
        out.append({"name": name, "versions": versions, "latest": versions[-1] if versions else None,
                    "tags": store.tags(name)})
    return out


def manifest_view(dv: DatasetVersion) -> dict[str, Any]:
    """The manifest's parts the version page shows: funnel, ledger, prompts, parent, review."""
    m = dv.manifest
    usage = dict(m.get("usage") or {})
    ledger = usage.pop("ledger", None) or {}
    return {
        "ref": dv.ref, "parent": m.get("parent"), "created": m.get("created"), "generator": m.get("generator"),
        "backend": m.get("backend"), "model": m.get("model"), "lang": m.get("lang"), "seed": m.get("seed"),
        "counts": m.get("counts") or {}, "funnel": m.get("funnel") or {}, "usage": usage,
        "ledger": {"stages": ledger.get("stages") or [], "total": ledger.get("total") or {},
                   "price": ledger.get("price")},
        "cost": cost_of(m), "prompt_templates": m.get("prompt_templates") or {}, "inputs": m.get("inputs") or {},
        "review": m.get("review"), "notes": (m.get("run") or {}).get("notes") or [],
        "data_sha256": m.get("data_sha256"),
    }


@functools.lru_cache(maxsize=64)
def _rejects_summary(path: str, size: int) -> tuple[dict[str, int], dict[str, list]]:
    counts: Counter = Counter()
    examples: dict[str, list] = {}
    p = Path(path)
    if size:
        with open(p, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                reason = str(row.get("reason") or "unknown")
                counts[reason] += 1
                bucket = examples.setdefault(reason, [])
                if len(bucket) < REJECT_EXAMPLES:
                    bucket.append(reject_view(row))
    return dict(counts.most_common()), examples


def reject_view(row: dict[str, Any]) -> dict[str, Any]:
    rec = row.get("record") or {}
    detail = row.get("detail") if isinstance(row.get("detail"), dict) else {}
    similar = next((detail[k] for k in SIMILAR_KEYS if isinstance(detail.get(k), str)), None)
    shown = {k: v for k, v in detail.items() if k not in SIMILAR_KEYS}
    return {"reason": row.get("reason"), "filter": row.get("filter"), "stage": row.get("stage"),
            "instruction": rec.get("instruction") or "", "input": rec.get("input") or "",
            "output": rec.get("output") or "", "similar": similar,
            "detail": json.dumps(shown, ensure_ascii=False)[:400] if shown else ""}


def rejects(dv: DatasetVersion) -> dict[str, Any]:
    """The version's rejects grouped by reason (largest first), a few examples each,
    each beside the kept text it duplicated when the filter noted it."""
    path = dv.rejects_path
    size = path.stat().st_size if path.exists() else 0
    counts, examples = _rejects_summary(str(path), size)
    return {"total": sum(counts.values()),
            "groups": [{"reason": r, "count": n, "examples": examples.get(r, [])} for r, n in counts.items()]}


def chart_svg(rows: list[dict[str, Any]], width: int = 720, height: int = 180) -> str:
    """Three small line charts (records, cost, eval) across a dataset's versions, as inline
    SVG markup. Only numbers and version names (checked: vNNNN) reach the markup."""
    if len(rows) < 1:
        return ""
    series = [("records", "records", "#2b6cb0"), ("cost", "cost $", "#c05621"), ("eval", "eval", "#2f855a")]
    panel = width // 3
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="records, cost and eval across versions">']
    for i, (key, label, colour) in enumerate(series):
        x0 = i * panel + 40
        w, top, h = panel - 60, 24, height - 60
        vals = [(j, r.get(key)) for j, r in enumerate(rows) if isinstance(r.get(key), (int, float))]
        parts.append(f'<text x="{x0}" y="14" class="chart-title">{label}</text>')
        parts.append(f'<line x1="{x0}" y1="{top + h}" x2="{x0 + w}" y2="{top + h}" stroke="#999"/>')
        if not vals:
            parts.append(f'<text x="{x0 + 4}" y="{top + h // 2}" class="chart-none">none</text>')
            continue
        lo, hi = min(v for _, v in vals), max(v for _, v in vals)
        span = (hi - lo) or 1.0
        n = max(1, len(rows) - 1)
        pts = [(x0 + (j / n) * w if len(rows) > 1 else x0 + w / 2, top + h - ((v - lo) / span) * h) for j, v in vals]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for (x, y), (j, v) in zip(pts, vals):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                         f'{rows[j]["version"]}: {v:g}</title></circle>')
        parts.append(f'<text x="{x0 - 4}" y="{top + 4}" text-anchor="end" class="chart-tick">{hi:g}</text>')
        parts.append(f'<text x="{x0 - 4}" y="{top + h}" text-anchor="end" class="chart-tick">{lo:g}</text>')
        parts.append(f'<text x="{x0}" y="{top + h + 16}" class="chart-tick">{rows[0]["version"]}</text>')
        if len(rows) > 1:
            parts.append(f'<text x="{x0 + w}" y="{top + h + 16}" text-anchor="end" class="chart-tick">'
                         f'{rows[-1]["version"]}</text>')
    parts.append("</svg>")
    return "".join(parts)
