"""The run's ledger in the report: a table and a bar chart of tokens and dollars by stage
(from the manifest's usage.ledger, written by llm/ledger.py)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def cost_stats(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Per stage of the run that built this version: calls, cached, tokens, dollars (None: unknown)."""
    ledger = ((manifest or {}).get("usage") or {}).get("ledger")
    if not ledger:
        return None
    by: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "cached": 0, "prompt_tokens": 0,
                                                         "completion_tokens": 0, "dollars": 0.0, "modes": set()})
    for r in ledger.get("stages", []):
        row = by[r["stage"]]
        for k in ("requests", "cached", "prompt_tokens", "completion_tokens"):
            row[k] += r.get(k, 0)
        row["dollars"] = None if row["dollars"] is None or r.get("dollars") is None else row["dollars"] + r["dollars"]
        row["modes"].add(r.get("mode", "online"))
    stages = [{"stage": s, **{k: v for k, v in row.items() if k != "modes"}, "mode": "/".join(sorted(row["modes"]))}
              for s, row in by.items()]
    price = ledger.get("price")
    return {"stages": stages, "total": ledger.get("total", {}), "stopped": manifest.get("stopped"),
            "price": price if isinstance(price, str) or not isinstance(price, dict) else
            f"${price.get('input_per_1m')}/1M in, ${price.get('output_per_1m')}/1M out (as of {price.get('as_of')})"}


def cost_plot(label: str, st: dict[str, Any], path: Path) -> Path | None:
    """Tokens by stage (prompt and completion stacked), dollars written at each bar."""
    cost = st.get("cost")
    if not cost or not cost["stages"]:
        return None
    from .plots import COLORS, _save, setup

    rows = sorted(cost["stages"], key=lambda r: r["prompt_tokens"] + r["completion_tokens"])
    plt = setup()
    fig, ax = plt.subplots(figsize=(7, 0.36 * len(rows) + 1.3))
    y = range(len(rows))
    pt = [r["prompt_tokens"] for r in rows]
    ax.barh(y, pt, color=COLORS[0], label="prompt tokens")
    ax.barh(y, [r["completion_tokens"] for r in rows], left=pt, color=COLORS[1], label="completion tokens")
    ax.set_yticks(list(y), [r["stage"] for r in rows], fontsize=8)
    for i, r in enumerate(rows):
        d = r["dollars"]
        tag = "cost unknown" if d is None else f"${d:.4f}"
        ax.text(r["prompt_tokens"] + r["completion_tokens"], i, f" {tag} ({r['cached']} cached)", va="center",
                fontsize=7)
    ax.set_title(f"{label}: LLM cost by stage", fontsize=9)
    ax.set_xlabel("tokens")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)
