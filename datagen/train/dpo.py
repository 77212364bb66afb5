"""DPO with LoRA on a preference version (datagen prefs), through TRL's DPOTrainer.

From the base: a fresh LoRA adapter is trained and the reference model is the base itself
(TRL computes it with the adapter switched off). From an SFT adapter (`--adapter`): that
adapter is trained further and TRL keeps a frozen copy of it as the reference, so the
policy is pulled from the SFT model, not from the base. The output folder, report, loss
plot and model card are those of an SFT run (train/lora.py), plus the DPO measures:
`eval rewards/margins` is beta times how much more the policy prefers chosen over
rejected than the reference does (0 before training, by construction).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..io import umask_modes
from ..records import Record
from . import dist
from .config import TrainConfig
from .data import load_train_data, split_records
from .fit import fit
from .progress import eval_every, logging_every
from .lora import CARD, PLOT, REPORT, _lora_config, _publish, _quiet_datasets, check_out_dir, record_base_model
from .model import load_model, load_tokenizer, pick_precision, resolve_base_model
from .report import loss_curves, plot_loss, write_model_card, write_report

MEASURES = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "logps/chosen",
            "logps/rejected")


def preference_rows(records: list[Record], system: str | None, where: str) -> list[dict[str, Any]]:
    """TRL's conversational preference rows (prompt / chosen / rejected message lists)."""
    rows = []
    for r in records:
        prompt, chosen, rejected = (str(r.extra.get(k) or "") for k in ("prompt", "chosen", "rejected"))
        if not (prompt.strip() and chosen.strip() and rejected.strip()):
            raise ConfigError(f"train --method dpo: {where} has a record ({r.id}) without prompt/chosen/rejected; "
                              "train DPO on a preference version made by `datagen prefs`")
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        rows.append({"prompt": msgs, "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def _dpo_args(cfg: TrainConfig, output_dir: Path, precision: str, grad_ckpt: bool, n_train: int, has_eval: bool,
              progress: bool, world: dist.Dist):
    import torch
    from trl import DPOConfig

    ckpt = "activation_checkpointing" if any(f.name == "activation_checkpointing" for f in dataclasses.fields(DPOConfig)) \
        else "gradient_checkpointing"
    steps_per_epoch = max(1, math.ceil(n_train / (cfg.batch_size * cfg.grad_accum * world.world_size)))
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    return DPOConfig(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=int(total * cfg.warmup_ratio),
        weight_decay=cfg.weight_decay, max_length=cfg.max_length, beta=cfg.beta,
        logging_steps=logging_every(total, cfg.logging_steps),
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_every(total, cfg.eval_steps) if has_eval else None,
        save_strategy="steps" if cfg.save_steps else "no", save_steps=cfg.save_steps or 500,
        seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        **{ckpt: grad_ckpt, f"{ckpt}_kwargs": {"use_reentrant": False} if grad_ckpt else None},
        dataloader_pin_memory=torch.cuda.is_available(), report_to=cfg.report_to,
        disable_tqdm=True, dataset_num_proc=None,  # progress lines instead (train/fit.py)
        **dist.sft_kwargs(world),
    )


def _measures(metrics: dict[str, float] | None) -> dict[str, float] | None:
    if metrics is None:
        return None
    return {k: round(float(metrics[f"eval_{k}"]), 6) for k in MEASURES if f"eval_{k}" in metrics}


def train_dpo(cfg: TrainConfig, progress: bool = True) -> dict[str, Any] | None:
    """DPO-train a LoRA adapter on cfg's preference data; writes what train() writes."""
    t_start = time.perf_counter()
    world = dist.dist_env()
    cfg.require_input()
    out = Path(cfg.out)
    check_out_dir(out, cfg.overwrite)
    if cfg.adapter and not (Path(cfg.adapter) / "adapter_config.json").is_file():
        raise ConfigError(f"train: --adapter {cfg.adapter} has no adapter_config.json (an adapter from datagen train)")
    base = resolve_base_model(cfg.base_model)
    data = load_train_data(cfg.dataset, cfg.store, cfg.data)
    where = data.source.get("data") or f"{data.source.get('dataset')}@{data.source.get('version')}"

    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOTrainer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    precision = pick_precision(cfg.precision)
    grad_ckpt = torch.cuda.is_available() if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    tok = load_tokenizer(base)
    train_recs, eval_recs = split_records(data.records, cfg.eval_fraction, cfg.seed)
    train_ds = Dataset.from_list(preference_rows(train_recs, cfg.system, where))
    eval_ds = Dataset.from_list(preference_rows(eval_recs, cfg.system, where)) if eval_recs else None

    model = load_model(base, precision, cfg.load_in_4bit)
    peft_config = _lora_config(cfg)
    if cfg.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, cfg.adapter, is_trainable=True)
        peft_config = None  # TRL copies the loaded adapter as the frozen reference ("ref")

    started = dist.init(world)
    build = None
    if world.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    build = Path(dist.share(world, str(build) if build else None))
    try:
        try:
            args = _dpo_args(cfg, build / "checkpoints", precision, grad_ckpt, len(train_ds), eval_ds is not None,
                             progress and world.is_main, world)
        except ValueError as e:
            raise ConfigError(f"train: {e}") from None
        with _quiet_datasets():
            trainer = DPOTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                 processing_class=tok, peft_config=peft_config)
            run = fit(trainer, world, cfg, eval_ds is not None, progress)
            result, train_seconds, mem, shards = run.result, run.seconds, run.memory, run.shards
            before, after = run.before, run.after
        if not world.is_main:
            return None

        trainer.model.save_pretrained(build, selected_adapters=["default"])
        record_base_model(build, base)
        tok.save_pretrained(build)
        ckpt = build / "checkpoints"
        if ckpt.is_dir() and not any(ckpt.iterdir()):
            ckpt.rmdir()
        history = trainer.state.log_history
        eval_before = before["eval_loss"] if before else None
        train_curve, eval_curve = loss_curves(history, eval_before)
        tokens = max([e.get("num_tokens", 0) for e in history] + [0])
        n_trainable, n_total = trainer.model.get_nb_trainable_parameters()
        report = {
            "datagen_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "method": "dpo",
            "data": {**data.source, "records": len(data.records), "train_records": len(train_ds),
                     "eval_records": len(eval_ds) if eval_ds is not None else 0, "skipped_records": 0},
            "base_model": base.name, "base_model_id": base.hub_id,
            "base_model_path": str(base.folder / base.gguf_file) if base.gguf_file else str(base.folder),
            "hyperparameters": {**dataclasses.asdict(cfg), "precision": precision,
                                "gradient_checkpointing": grad_ckpt, "warmup_steps": args.warmup_steps,
                                "eval_steps": args.eval_steps},
            "dpo": {"beta": cfg.beta, "reference": f"SFT adapter {cfg.adapter}" if cfg.adapter else "the base model",
                    "eval_before": _measures(before), "eval_after": _measures(after)},
            "trainable_params": int(n_trainable), "total_params": int(n_total),
            "steps": int(trainer.state.global_step), "epochs": round(float(trainer.state.epoch or 0), 4),
            "train_loss": round(float(result.training_loss), 6),
            "train_loss_curve": train_curve, "eval_loss_curve": eval_curve,
            "eval_loss_before": eval_before, "eval_loss": after["eval_loss"] if after else None,
            "tokens_seen": int(tokens), "train_seconds": round(train_seconds, 3),
            "tokens_per_second": round(tokens / train_seconds, 1) if train_seconds > 0 else 0.0,
            **mem, "device": "cuda" if torch.cuda.is_available() else "cpu",
            "distributed": shards, "adapter_dir": str(out), "merged_dir": None,
        }
        plot_loss(train_curve, eval_curve, build / PLOT, title=f"DPO: {base.name} on {where}")
        report["wall_seconds"] = round(time.perf_counter() - t_start, 3)
        write_report(report, build / REPORT)
        write_model_card(report, build / CARD)
        umask_modes(build)
        _publish(build, out)
    finally:
        if world.is_main and build.exists():
            shutil.rmtree(build, ignore_errors=True)
        dist.finish(world, started)
    return report
