"""What an SFT run (lora.py) and a DPO run (dpo.py) share around their trainer.

- `prepare`: threads, seed, precision and activation checkpointing, loading bars off;
- `common_args`: the TrainingArguments fields both configs take, one step count;
- `building`: the run is built in a temporary folder beside OUT (shared by the ranks) and
  renamed into place (`_publish`) only when the adapter, the report and the plot are all
  written, so a crash never leaves a half adapter where a previous good one was;
- `fit`: the training loop: datagen's progress lines in place of the trainer's printer
  and tqdm bars, an evaluation before and after, peak memory, the rows each rank saw;
- `save_adapter`, `common_report`, `write_outputs`: what lands in OUT.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..io import umask_modes
from . import dist
from .data import load_train_data
from .model import pick_precision, resolve_base_model
from .progress import eval_every, logging_every, progress_callback
from .report import loss_curves, peak_memory, plot_loss, write_model_card, write_report

REPORT = "train_report.json"
PLOT = "loss_curve.png"
CARD = "README.md"


def record_base_model(adapter_dir: Path, base) -> None:
    """peft writes the folder from_pretrained read (for the embedded model, a local cache
    path); record the model's real id, or what the user named, instead."""
    import json

    from ..io import write_json

    path = adapter_dir / "adapter_config.json"
    conf = json.loads(path.read_text(encoding="utf-8"))
    conf["base_model_name_or_path"] = base.hub_id
    write_json(path, conf)


def load_inputs(cfg) -> tuple[Any, Any, str]:
    """(base model, training data, where the data came from) of a run: the base resolved,
    the data loaded, and its source named (a file, or dataset@version)."""
    base = resolve_base_model(cfg.base_model)
    data = load_train_data(cfg.dataset, cfg.store, cfg.data)
    return base, data, data.source.get("data") or f"{data.source.get('dataset')}@{data.source.get('version')}"


def check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, expected a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out} is not empty (pass --overwrite to replace it)")


def _publish(build: Path, out: Path) -> None:
    """Swap the finished build folder in; the old one goes only after the new is in place."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.rmdir(old)
        os.rename(out, old)
    os.rename(build, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _quiet_datasets():
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


def prepare(cfg) -> tuple[str, bool]:
    """(precision, gradient checkpointing) for this machine; threads and seed set, and
    transformers' weights-loading bars off (the progress lines say what runs)."""
    import torch
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    grad_ckpt = torch.cuda.is_available() if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    return pick_precision(cfg.precision), grad_ckpt


def common_args(config_cls, cfg, output_dir: Path, precision: str, grad_ckpt: bool, n_train: int,
                has_eval: bool, world: dist.Dist) -> dict[str, Any]:
    """The fields of TRL's SFTConfig / DPOConfig (`config_cls`) both runs set the same way."""
    import torch

    # transformers 5 renamed gradient_checkpointing (kept as a deprecated alias); TRL's
    # configs turn it on by default, so it is always passed explicitly
    ckpt = "activation_checkpointing" if any(f.name == "activation_checkpointing" for f in dataclasses.fields(config_cls)) \
        else "gradient_checkpointing"
    steps_per_epoch = max(1, math.ceil(n_train / (cfg.batch_size * cfg.grad_accum * world.world_size)))
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    return dict(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=int(total * cfg.warmup_ratio),
        weight_decay=cfg.weight_decay, max_length=cfg.max_length,
        logging_steps=logging_every(total, cfg.logging_steps),
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_every(total, cfg.eval_steps) if has_eval else None,
        save_strategy="steps" if cfg.save_steps else "no", save_steps=cfg.save_steps or 500,
        seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        **{ckpt: grad_ckpt, f"{ckpt}_kwargs": {"use_reentrant": False} if grad_ckpt else None},
        dataloader_pin_memory=torch.cuda.is_available(), report_to=cfg.report_to,
        disable_tqdm=True,  # progress lines instead (train/progress.py), in a terminal and a log alike
        dataset_num_proc=None, **dist.sft_kwargs(world),
    )


def training_args(make, *args):
    """`make(*args)`, a config whose values TRL rejects (an unknown lr_scheduler) one line."""
    try:
        return make(*args)
    except ValueError as e:
        raise ConfigError(f"train: {e}") from None


@contextmanager
def building(world: dist.Dist, out: Path):
    """The build folder beside OUT, one for all ranks (checkpoints write per-rank state into
    it); removed unless `_publish` renamed it into place, and the process group closed."""
    started = dist.init(world)
    build = None
    if world.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    build = Path(dist.share(world, str(build) if build else None))
    try:
        yield build
    finally:
        if world.is_main and build.exists():
            shutil.rmtree(build, ignore_errors=True)
        dist.finish(world, started)


@dataclass
class Fit:
    result: Any  # transformers' TrainOutput
    before: dict | None  # trainer.evaluate() before training (None: no eval split)
    after: dict | None
    seconds: float
    memory: Any
    shards: Any


def fit(trainer, world: dist.Dist, cfg, has_eval: bool, progress: bool) -> Fit:
    """Train `trainer` (an SFTTrainer or DPOTrainer), evaluating before and after."""
    import torch
    from transformers import PrinterCallback, ProgressCallback

    counter = trainer.data_collator = dist.CountingCollator(trainer.data_collator)
    for cb in (PrinterCallback, ProgressCallback):  # raw log dicts and tqdm bars
        trainer.remove_callback(cb)
    if progress and world.is_main:
        trainer.add_callback(progress_callback())
    before = trainer.evaluate() if has_eval else None
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    counter.counting = True
    result = trainer.train()
    counter.counting = False
    seconds = time.perf_counter() - t0
    memory = peak_memory()
    after = trainer.evaluate() if has_eval else None
    shards = dist.shard_report(world, counter.rows, cfg.batch_size, cfg.grad_accum)
    return Fit(result, before, after, seconds, memory, shards)


def save_adapter(trainer, build: Path, base, tok, **save) -> None:
    """The trained adapter, its tokenizer and the base it names; an empty checkpoints folder goes."""
    trainer.model.save_pretrained(build, **save)
    record_base_model(build, base)
    tok.save_pretrained(build)
    ckpt = build / "checkpoints"
    if ckpt.is_dir() and not any(ckpt.iterdir()):
        ckpt.rmdir()


def common_report(cfg, trainer, run: Fit, args, base, precision: str, grad_ckpt: bool, out: Path, *,
                  head: dict, data: dict, middle: dict, merged_dir: str | None) -> dict[str, Any]:
    """train_report.json: the run's own fields (`head` after the version and date, `data`,
    `middle` after the hyperparameters) around what every run reports."""
    import torch

    eval_before = run.before["eval_loss"] if run.before else None
    history = trainer.state.log_history
    train_curve, eval_curve = loss_curves(history, eval_before)
    tokens = max([e.get("num_tokens", 0) for e in history] + [0])
    n_trainable, n_total = trainer.model.get_nb_trainable_parameters()
    return {
        "datagen_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **head,
        "data": data,
        "base_model": base.name, "base_model_id": base.hub_id,
        "base_model_path": str(base.folder / base.gguf_file) if base.gguf_file else str(base.folder),
        "hyperparameters": {**dataclasses.asdict(cfg), "precision": precision,
                            "gradient_checkpointing": grad_ckpt, "warmup_steps": args.warmup_steps,
                            "eval_steps": args.eval_steps},
        **middle,
        "trainable_params": int(n_trainable), "total_params": int(n_total),
        "steps": int(trainer.state.global_step), "epochs": round(float(trainer.state.epoch or 0), 4),
        "train_loss": round(float(run.result.training_loss), 6),
        "train_loss_curve": train_curve, "eval_loss_curve": eval_curve,
        "eval_loss_before": eval_before, "eval_loss": run.after["eval_loss"] if run.after else None,
        "tokens_seen": int(tokens), "train_seconds": round(run.seconds, 3),
        "tokens_per_second": round(tokens / run.seconds, 1) if run.seconds > 0 else 0.0,
        **run.memory, "device": "cuda" if torch.cuda.is_available() else "cpu",
        "distributed": run.shards, "adapter_dir": str(out), "merged_dir": merged_dir,
    }


def write_outputs(report: dict, build: Path, out: Path, title: str, t_start: float) -> None:
    """The loss plot, the report and the model card into the build folder, then into OUT."""
    plot_loss(report["train_loss_curve"], report["eval_loss_curve"], build / PLOT, title=title)
    report["wall_seconds"] = round(time.perf_counter() - t_start, 3)
    write_report(report, build / REPORT)
    write_model_card(report, build / CARD)
    umask_modes(build)  # mkdtemp's 0700 (and safetensors' 0600) would otherwise become OUT's modes
    _publish(build, out)
