"""LoRA training on a dataset version. Heavy imports (torch, transformers, peft, trl)
happen inside `train`, so importing this package is instant."""

from __future__ import annotations

from typing import Any

from .config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Fine-tune a LoRA adapter as `cfg` says (SFT, or DPO with `method: dpo`); returns the
    train_report (also written to OUT/train_report.json)."""
    if cfg.method == "dpo":
        from .dpo import train_dpo

        return train_dpo(cfg, progress=progress)
    from .lora import train as _train

    return _train(cfg, progress=progress)
