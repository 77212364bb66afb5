"""LoRA fine-tuning on a dataset version with TRL's SFTTrainer and peft.

The run is built in a temporary folder beside OUT and renamed into place only when the
adapter, the report and the plot are all written (train/fit.py, shared with DPO), so a
crash never leaves a half adapter where a previous good one was.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import dist
from .config import TrainConfig
from .data import build_dataset, split_records
from .fit import (_quiet_datasets, building, check_out_dir, common_args, common_report, fit, load_inputs, prepare,
                  save_adapter, training_args, write_outputs)
from .model import load_model, load_tokenizer


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), bias="none", task_type="CAUSAL_LM")


def _sft_args(cfg: TrainConfig, output_dir: Path, precision: str, grad_ckpt: bool, n_train: int,
              has_eval: bool, world: dist.Dist = dist.Dist()):
    from trl import SFTConfig

    return SFTConfig(**common_args(SFTConfig, cfg, output_dir, precision, grad_ckpt, n_train, has_eval, world),
                     packing=cfg.packing,
                     # TRL adds -100 labels from our assistant_masks; the collator pads per batch
                     completion_only_loss=None)


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
    base, data, where = load_inputs(cfg)

    from trl import SFTTrainer

    precision, grad_ckpt = prepare(cfg)
    tok = load_tokenizer(base)
    train_recs, eval_recs = split_records(data.records, cfg.eval_fraction, cfg.seed)
    train_ds, skipped = build_dataset(tok, train_recs, cfg.system, where)
    eval_ds, eval_skipped = build_dataset(tok, eval_recs, cfg.system, where) if eval_recs else (None, 0)

    model = load_model(base, precision, cfg.load_in_4bit)
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=grad_ckpt)

    with building(world, out) as build:
        args = training_args(_sft_args, cfg, build / "checkpoints", precision, grad_ckpt, len(train_ds),
                             eval_ds is not None, world)
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
        if not world.is_main:
            return None

        save_adapter(trainer, build, base, tok)
        merged_dir = None
        if cfg.merge:
            merge_adapter(base, build, build / "merged", precision)
            merged_dir = str(out / "merged")
        trained = sum(sum(1 for x in row if x != -100) for row in trainer.train_dataset["labels"]) \
            if "labels" in trainer.train_dataset.column_names else None
        report = common_report(
            cfg, trainer, run, args, base, precision, grad_ckpt, out, head={},
            data={**data.source, "records": len(data.records),
                  "train_records": len(train_ds), "eval_records": len(eval_ds) if eval_ds is not None else 0,
                  "skipped_records": skipped + eval_skipped, "train_rows_after_prepare": len(trainer.train_dataset),
                  "loss_tokens_per_epoch": trained},
            middle={}, merged_dir=merged_dir)
        write_outputs(report, build, out, f"{base.name} on {where}", t_start)
    return report


def merge_adapter(base, adapter_dir: Path, out_dir: Path, precision: str = "fp32") -> Path:
    """Fold the adapter into a fresh (unquantized) copy of the base and save it whole."""
    from peft import PeftModel

    model = load_model(base, "fp32" if precision == "fp32" else precision)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    load_tokenizer(base).save_pretrained(out_dir)
    return out_dir
