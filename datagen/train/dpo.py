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

import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import Record
from . import dist
from .config import TrainConfig
from .data import split_records
from .fit import (_quiet_datasets, building, check_out_dir, common_args, common_report, fit, load_inputs, prepare,
                  save_adapter, training_args, write_outputs)
from .lora import _lora_config
from .model import load_model, load_tokenizer

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
              world: dist.Dist):
    from trl import DPOConfig

    return DPOConfig(**common_args(DPOConfig, cfg, output_dir, precision, grad_ckpt, n_train, has_eval, world),
                     beta=cfg.beta)


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
    base, data, where = load_inputs(cfg)

    from datasets import Dataset
    from trl import DPOTrainer

    precision, grad_ckpt = prepare(cfg)
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

    with building(world, out) as build:
        args = training_args(_dpo_args, cfg, build / "checkpoints", precision, grad_ckpt, len(train_ds),
                             eval_ds is not None, world)
        with _quiet_datasets():
            trainer = DPOTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                 processing_class=tok, peft_config=peft_config)
            run = fit(trainer, world, cfg, eval_ds is not None, progress)
        if not world.is_main:
            return None

        save_adapter(trainer, build, base, tok, selected_adapters=["default"])
        report = common_report(
            cfg, trainer, run, args, base, precision, grad_ckpt, out, head={"method": "dpo"},
            data={**data.source, "records": len(data.records), "train_records": len(train_ds),
                  "eval_records": len(eval_ds) if eval_ds is not None else 0, "skipped_records": 0},
            middle={"dpo": {"beta": cfg.beta,
                            "reference": f"SFT adapter {cfg.adapter}" if cfg.adapter else "the base model",
                            "eval_before": _measures(run.before), "eval_after": _measures(run.after)}},
            merged_dir=None)
        write_outputs(report, build, out, f"DPO: {base.name} on {where}", t_start)
    return report
