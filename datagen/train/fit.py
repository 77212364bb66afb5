"""The training loop SFT and DPO share: datagen's progress lines in place of the trainer's
printer and tqdm bars, an evaluation before and after, peak memory, and the rows each
rank saw (train/dist.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import dist
from .progress import progress_callback
from .report import peak_memory


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
