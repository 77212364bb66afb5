"""train_report.json and the loss-curve PNG, built from the Trainer's log history."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def loss_curves(log_history: list[dict[str, Any]], eval_before: float | None = None) -> tuple[list[dict], list[dict]]:
    """(train, eval) curves as [{"step", "loss"}] from transformers' state.log_history; the
    eval curve starts at step 0 with `eval_before` and has one point per step."""
    train = [{"step": e["step"], "loss": round(float(e["loss"]), 6)} for e in log_history if "loss" in e]
    by_step = {0: round(float(eval_before), 6)} if eval_before is not None else {}
    for e in log_history:
        if "eval_loss" in e:
            by_step[e["step"]] = round(float(e["eval_loss"]), 6)
    evals = [{"step": s, "loss": v} for s, v in sorted(by_step.items())]
    return train, evals


def peak_memory() -> dict[str, Any]:
    """Peak CUDA memory allocated when training on a GPU, else the process's peak RSS."""
    import torch

    if torch.cuda.is_available():
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                "peak_memory_kind": "cuda_max_allocated"}
    import resource

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_memory_mb": round(rss_kb / 1024, 1), "peak_memory_kind": "process_max_rss"}


def plot_loss(train: list[dict], evals: list[dict], path: str | Path, title: str = "") -> Path:
    """Write the train/eval loss curve as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        if train:
            ax.plot([p["step"] for p in train], [p["loss"] for p in train], label="train", lw=1.5)
        if evals:
            ax.plot([p["step"] for p in evals], [p["loss"] for p in evals], "o-", label="eval", lw=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if title:
            ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if train or evals:
            ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Path(path)


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    from ..io import write_json

    return write_json(path, report)


def format_report(report: dict[str, Any]) -> str:
    """A few lines for the terminal after a run."""
    d = report.get("data", {})
    src = f"{d['dataset']}@{d['version']}" if d.get("dataset") else d.get("data", "?")
    lines = [
        f"trained {report['base_model']} on {src}: {report['steps']} steps in {report['train_seconds']:.1f}s "
        f"({report['tokens_per_second']:.0f} tokens/s, peak {report['peak_memory_mb']:.0f} MB)",
        f"  records: {d.get('train_records', 0)} train, {d.get('eval_records', 0)} eval"
        + (f", {d['skipped_records']} skipped (no answer)" if d.get("skipped_records") else ""),
    ]
    tc = report.get("train_loss_curve") or []
    if tc:
        lines.append(f"  train loss: {tc[0]['loss']:.3f} -> {tc[-1]['loss']:.3f}")
    if report.get("eval_loss") is not None:
        before = report.get("eval_loss_before")
        lines.append("  eval loss: " + (f"{before:.3f} -> " if before is not None else "") + f"{report['eval_loss']:.3f}")
    lines.append(f"  adapter: {report['adapter_dir']}")
    if report.get("merged_dir"):
        lines.append(f"  merged model: {report['merged_dir']}")
    return "\n".join(lines)
