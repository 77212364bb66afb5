"""Evaluate trained adapters against their base model on held-out tasks. Heavy imports
(torch, transformers, peft) happen inside `run_eval`, so importing this is instant."""

from __future__ import annotations

from typing import Any

from .config import EvalConfig

__all__ = ["EvalConfig", "run_eval"]


def run_eval(cfg: EvalConfig, progress: bool = False) -> dict[str, Any]:
    """Generate with the base and each adapter, score, write eval_report.json + eval.png."""
    from .evaluate import run_eval as _run

    return _run(cfg, progress=progress)
