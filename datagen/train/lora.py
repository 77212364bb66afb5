"""LoRA fine-tuning on a dataset version with TRL's SFTTrainer and peft.

The run is built in a temporary folder beside OUT and renamed into place only when the
adapter, the report and the plot are all written, so a crash never leaves a half adapter
where a previous good one was.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..io import umask_modes
from .config import TrainConfig
from .fit import fit
from .progress import eval_every, logging_every
from . import dist
from .data import build_dataset, load_train_data, split_records
from .model import load_model, load_tokenizer, pick_precision, resolve_base_model
from .report import loss_curves, plot_loss, write_model_card, write_report

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


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), bias="none", task_type="CAUSAL_LM")


def _sft_args(cfg: TrainConfig, output_dir: Path, precision: str, grad_ckpt: bool, n_train: int,
              has_eval: bool, progress: bool, world: dist.Dist = dist.Dist()):
    from trl import SFTConfig

    import torch

    # transformers 5 renamed gradient_checkpointing (kept as a deprecated alias); TRL's
    # SFTConfig turns it on by default, so it is always passed explicitly
    ckpt = "activation_checkpointing" if any(f.name == "activation_checkpointing" for f in dataclasses.fields(SFTConfig)) \
        else "gradient_checkpointing"
    steps_per_epoch = max(1, math.ceil(n_train / (cfg.batch_size * cfg.grad_accum * world.world_size)))
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    eval_steps = eval_every(total, cfg.eval_steps)
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=int(total * cfg.warmup_ratio),
        weight_decay=cfg.weight_decay,
        max_length=cfg.max_length,
        packing=cfg.packing,
        logging_steps=logging_every(total, cfg.logging_steps),
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps if has_eval else None,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **{ckpt: grad_ckpt, f"{ckpt}_kwargs": {"use_reentrant": False} if grad_ckpt else None},
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=cfg.report_to,
        disable_tqdm=True,  # progress lines instead (train/progress.py), in a terminal and a log alike
        dataset_num_proc=None,
        # TRL adds -100 labels from our assistant_masks; the collator pads per batch
        completion_only_loss=None,
        **dist.sft_kwargs(world),
    )


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Fine-tune a LoRA adapter on cfg's data; write the adapter, train_report.json and
    loss_curve.png under cfg.out (and OUT/merged with cfg.merge). Returns the report.

    Under torchrun / accelerate launch every rank trains its shard (DDP) and only rank 0
    writes OUT; the other ranks return None."""
    t_start = time.perf_counter()
    world = dist.dist_env()
    cfg.require_input()
    out = Path(cfg.out)
    check_out_dir(out, cfg.overwrite)
    base = resolve_base_model(cfg.base_model)
    data = load_train_data(cfg.dataset, cfg.store, cfg.data)
    where = data.source.get("data") or f"{data.source.get('dataset')}@{data.source.get('version')}"

    import torch
    from transformers import set_seed
    from transformers.utils import logging as hf_logging
    from trl import SFTTrainer

    hf_logging.disable_progress_bar()  # weights-loading bars: the progress lines say what runs

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    precision = pick_precision(cfg.precision)
    grad_ckpt = torch.cuda.is_available() if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing

    tok = load_tokenizer(base)
    train_recs, eval_recs = split_records(data.records, cfg.eval_fraction, cfg.seed)
    train_ds, skipped = build_dataset(tok, train_recs, cfg.system, where)
    eval_ds, eval_skipped = build_dataset(tok, eval_recs, cfg.system, where) if eval_recs else (None, 0)

    model = load_model(base, precision, cfg.load_in_4bit)
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=grad_ckpt)

    started = dist.init(world)
    build = None
    if world.is_main:  # one build folder, shared: checkpoints write per-rank state into it
        out.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    build = Path(dist.share(world, str(build) if build else None))
    try:
        try:
            args = _sft_args(cfg, build / "checkpoints", precision, grad_ckpt, len(train_ds), eval_ds is not None,
                             progress and world.is_main, world)
        except ValueError as e:  # e.g. an unknown lr_scheduler name
            raise ConfigError(f"train: {e}") from None
        with _quiet_datasets():
            try:
                trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                     processing_class=tok, peft_config=_lora_config(cfg))
            except ValueError as e:
                if "target modules" in str(e).lower():
                    raise ConfigError(f"train: target_modules {cfg.target_modules} not found in "
                                      f"{base.name}: {e}") from None
                raise
            run = fit(trainer, world, cfg, eval_ds is not None, progress)
            result, train_seconds, mem, shards = run.result, run.seconds, run.memory, run.shards
            eval_before = run.before["eval_loss"] if run.before else None
            eval_after = run.after["eval_loss"] if run.after else None
        if not world.is_main:
            return None

        trainer.model.save_pretrained(build)
        record_base_model(build, base)
        tok.save_pretrained(build)
        ckpt = build / "checkpoints"
        if ckpt.is_dir() and not any(ckpt.iterdir()):
            ckpt.rmdir()
        merged_dir = None
        if cfg.merge:
            merge_adapter(base, build, build / "merged", precision)
            merged_dir = str(out / "merged")

        history = trainer.state.log_history
        train_curve, eval_curve = loss_curves(history, eval_before)
        tokens = max([e.get("num_tokens", 0) for e in history] + [0])
        trained = sum(sum(1 for x in row if x != -100) for row in trainer.train_dataset["labels"]) \
            if "labels" in trainer.train_dataset.column_names else None
        n_trainable, n_total = trainer.model.get_nb_trainable_parameters()
        report = {
            "datagen_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "data": {**data.source, "records": len(data.records),
                     "train_records": len(train_ds), "eval_records": len(eval_ds) if eval_ds is not None else 0,
                     "skipped_records": skipped + eval_skipped, "train_rows_after_prepare": len(trainer.train_dataset),
                     "loss_tokens_per_epoch": trained},
            "base_model": base.name,
            "base_model_id": base.hub_id,
            "base_model_path": str(base.folder / base.gguf_file) if base.gguf_file else str(base.folder),
            "hyperparameters": {**dataclasses.asdict(cfg), "precision": precision,
                                "gradient_checkpointing": grad_ckpt, "warmup_steps": args.warmup_steps,
                                "eval_steps": args.eval_steps},
            "trainable_params": int(n_trainable),
            "total_params": int(n_total),
            "steps": int(trainer.state.global_step),
            "epochs": round(float(trainer.state.epoch or 0), 4),
            "train_loss": round(float(result.training_loss), 6),
            "train_loss_curve": train_curve,
            "eval_loss_curve": eval_curve,
            "eval_loss_before": eval_before,
            "eval_loss": eval_after,
            "tokens_seen": int(tokens),
            "train_seconds": round(train_seconds, 3),
            "tokens_per_second": round(tokens / train_seconds, 1) if train_seconds > 0 else 0.0,
            **mem,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "distributed": shards,
            "adapter_dir": str(out),
            "merged_dir": merged_dir,
        }
        title = f"{base.name} on {where}"
        plot_loss(train_curve, eval_curve, build / PLOT, title=title)
        report["wall_seconds"] = round(time.perf_counter() - t_start, 3)
        write_report(report, build / REPORT)
        write_model_card(report, build / CARD)
        umask_modes(build)  # mkdtemp's 0700 (and safetensors' 0600) would otherwise become OUT's modes
        _publish(build, out)
    finally:
        if world.is_main and build.exists():
            shutil.rmtree(build, ignore_errors=True)
        dist.finish(world, started)
    return report


def merge_adapter(base, adapter_dir: Path, out_dir: Path, precision: str = "fp32") -> Path:
    """Fold the adapter into a fresh (unquantized) copy of the base and save it whole."""
    from peft import PeftModel

    model = load_model(base, "fp32" if precision == "fp32" else precision)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    load_tokenizer(base).save_pretrained(out_dir)
    return out_dir
