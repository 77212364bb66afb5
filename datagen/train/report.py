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
    dpo = report.get("dpo") or {}
    if dpo.get("eval_after"):
        b, a = dpo.get("eval_before") or {}, dpo["eval_after"]
        lines.append(f"  dpo (beta {dpo['beta']}, reference: {dpo['reference']}): eval reward margin "
                     f"{b.get('rewards/margins', 0):.3f} -> {a.get('rewards/margins', 0):.3f}, "
                     f"accuracy {a.get('rewards/accuracies', 0):.0%}")
    shards = report.get("distributed") or {}
    if shards.get("world_size", 1) > 1:
        lines.append(f"  distributed: {shards['world_size']} ranks, global batch {shards['global_batch_size']}, "
                     f"rows per rank {shards['rows_per_rank']}")
    lines.append(f"  adapter: {report['adapter_dir']}")
    if report.get("merged_dir"):
        lines.append(f"  merged model: {report['merged_dir']}")
    return "\n".join(lines)


def model_card(report: dict[str, Any]) -> str:
    """The adapter's README.md: what it was trained from, how, and how well (peft's own
    save_pretrained leaves an empty template)."""
    d, hp = report.get("data", {}), report.get("hyperparameters", {})
    base = report.get("base_model_id") or report.get("base_model", "?")
    src = f"`{d['dataset']}@{d['version']}` (store `{d.get('store')}`)" if d.get("dataset") else f"`{d.get('data')}`"

    def loss(v):
        return "n/a" if v is None else f"{v:.4f}"

    tc = report.get("train_loss_curve") or []
    front = ["---", "library_name: peft", f"tags: [datagen, lora, {report.get('method', 'sft')}]"]
    if not Path(base).exists():  # a Hub id; a local path means nothing on the Hub
        front.insert(1, f"base_model: {base}")
    rows = [
        ("base model", f"`{base}`"),
        ("steps / epochs", f"{report.get('steps')} / {report.get('epochs')}"),
        ("learning rate / scheduler", f"{hp.get('learning_rate')} / {hp.get('lr_scheduler')}"),
        ("batch size x grad accum", f"{hp.get('batch_size')} x {hp.get('grad_accum')}"),
        ("max length / packing", f"{hp.get('max_length')} / {hp.get('packing')}"),
        ("LoRA r / alpha / dropout", f"{hp.get('lora_r')} / {hp.get('lora_alpha')} / {hp.get('lora_dropout')}"),
        ("target modules", ", ".join(hp.get("target_modules") or [])),
        ("precision", str(hp.get("precision"))),
        ("seed", str(hp.get("seed"))),
    ]
    results = [
        ("train loss (first -> last logged)", f"{loss(tc[0]['loss'])} -> {loss(tc[-1]['loss'])}" if tc else "n/a"),
        ("train loss (mean)", loss(report.get("train_loss"))),
        ("eval loss (before -> after)", f"{loss(report.get('eval_loss_before'))} -> {loss(report.get('eval_loss'))}"),
        ("tokens seen", str(report.get("tokens_seen"))),
        ("train time", f"{report.get('train_seconds')} s on {report.get('device')}"),
    ]
    table = lambda pairs: ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in pairs)]  # noqa: E731
    lines = [*front, "---", "", f"# LoRA adapter for {base}", "",
             f"Trained with datagen {report.get('datagen_version')} on {report.get('created')}.", "",
             "## Data", "", f"- dataset: {src}", f"- data sha256: `{d.get('data_sha256')}`",
             f"- records: {d.get('records')} ({d.get('train_records')} train, {d.get('eval_records')} eval, "
             f"{d.get('skipped_records', 0)} skipped without an answer)", "",
             "## Training", "", *table(rows), "", "## Results", "", *table(results), "",
             "Full figures, loss curves included: `train_report.json`; plot: `loss_curve.png`.", "",
             "## Use", "", "```python", "from peft import AutoPeftModelForCausalLM", "",
             'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")', "```", "",
             'or `datagen generate --adapter path/to/this/folder "your prompt"`.', ""]
    return "\n".join(lines)


def write_model_card(report: dict[str, Any], path: str | Path) -> Path:
    from ..io import atomic_writer

    with atomic_writer(path) as fh:
        fh.write(model_card(report))
    return Path(path)
