"""eval_report.json's companions: the PNG, the per-version summaries kept in the store,
and the lines printed in the terminal and in `datagen report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRIC_NAMES = {"rouge_l": "ROUGE-L", "exact_match": "exact match", "ref_loss": "ref loss"}


def summarize(report: dict[str, Any], model_id: str) -> dict[str, Any]:
    """One adapter's results against the base, as kept per dataset version."""
    m = next(x for x in report["models"] if x["id"] == model_id)
    t = m.get("trained_on") or {}
    return {
        "dataset": t.get("dataset"), "version": t.get("version"), "data_sha256": t.get("data_sha256"),
        "created": report["created"], "adapter_dir": m.get("adapter_dir"), "eval_report": report.get("report_path"),
        "base_model": report["models"][0]["name"],
        "eval_set": {k: report["eval_set"].get(k) for k in ("eval", "held_out_seeds_of", "sha256", "items")},
        "adapter": report["overall"][model_id], "base": report["overall"]["base"],
    }


def write_summaries(report: dict[str, Any], store: str | None = None) -> list[str]:
    """Record each adapter trained on a store version in `<store>/<name>/evals/`."""
    from ..store import DatasetStore
    from .adapters import train_store
    from .history import record

    paths = []
    for m in report["models"][1:]:
        t = m.get("trained_on") or {}
        if not t.get("dataset"):
            continue
        st = DatasetStore(store or train_store(m["adapter_dir"]))
        if t["version"] not in st.versions(t["dataset"]):
            continue
        paths.append(str(record(st, t["dataset"], t["version"], summarize(report, m["id"]))))
    return paths


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def summary_line(s: dict[str, Any]) -> str:
    """'v0003: ROUGE-L 0.41 vs base 0.33, ref loss 1.20 vs 2.75, judge win 62% (tie 10%, loss 28%)'."""
    a, b = s.get("adapter") or {}, s.get("base") or {}
    parts = [f"ROUGE-L {_num(a.get('rouge_l'))} vs base {_num(b.get('rouge_l'))}"]
    if a.get("exact_match") is not None:
        parts.append(f"exact match {_pct(a['exact_match'])} vs {_pct(b.get('exact_match'))}")
    parts.append(f"ref loss {_num(a.get('ref_loss'))} vs {_num(b.get('ref_loss'))}")
    j = a.get("judge")
    if j:
        parts.append(f"judge win {_pct(j.get('win_rate'))} (tie {_pct(j.get('tie_rate'))}, "
                     f"loss {_pct(j.get('loss_rate'))}" + (f", {j['malformed']} malformed" if j.get("malformed") else "")
                     + ")")
    gate = s.get("gate")
    tail = ""
    if gate:
        tail = f" [{'beats' if gate['better'] else 'does not beat'} {gate['previous'] or 'nothing before'}" \
               + ("; promoted to good" if gate.get("promoted") else "") + "]"
    items = (s.get("eval_set") or {}).get("items")
    return f"{s.get('version') or s.get('label')}: " + ", ".join(parts) + (f" on {items} items" if items else "") + tail


def format_report(report: dict[str, Any]) -> str:
    es = report["eval_set"]
    src = es.get("eval") or f"held-out seeds of {es.get('held_out_seeds_of')}"
    lines = [f"evaluated {len(report['models']) - 1} adapter(s) against {report['models'][0]['name']} "
             f"on {es['items']} items of {src} ({report['device']}, {report['precision']})"]
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    for m in report["models"][1:]:
        s = summarize(report, m["id"])
        lines.append("  " + summary_line({**s, "version": m["label"]}))
    lines.append(f"  report: {report.get('report_path')}")
    return "\n".join(lines)


def plot_eval(report: dict[str, Any], path: str | Path) -> Path:
    """Bars of each metric per model, and win/tie/loss bars per adapter when judged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [m["id"] for m in report["models"]]
    labels = [m["label"] for m in report["models"]]
    ov = report["overall"]
    metrics = [k for k in ("rouge_l", "exact_match", "ref_loss") if any(ov[i].get(k) is not None for i in ids)]
    judged = [i for i in ids if ov[i].get("judge")]
    n = len(metrics) + (1 if judged else 0)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.6), dpi=100, squeeze=False)
    try:
        colors = [f"C{k}" for k in range(len(ids))]
        for ax, key in zip(axes[0], metrics):
            vals = [ov[i].get(key) or 0.0 for i in ids]
            ax.bar(range(len(ids)), vals, color=colors)
            ax.set_xticks(range(len(ids)), labels, rotation=20, ha="right", fontsize=8)
            ax.set_title(METRIC_NAMES[key] + (" (lower is better)" if key == "ref_loss" else ""), fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        if judged:
            ax = axes[0][-1]
            left = [0.0] * len(judged)
            for key, color in (("win", "tab:green"), ("tie", "tab:gray"), ("loss", "tab:red")):
                vals = [ov[i]["judge"].get(f"{key}_rate") or 0.0 for i in judged]
                ax.barh(range(len(judged)), vals, left=left, color=color, label=key)
                left = [a + b for a, b in zip(left, vals)]
            ax.set_yticks(range(len(judged)), [labels[ids.index(i)] for i in judged], fontsize=8)
            ax.set_xlim(0, 1)
            ax.set_title("judge vs base", fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Path(path)
