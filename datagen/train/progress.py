"""What a training run says while it runs: plain lines, as `datagen run` writes them.

    train: 20 steps (72 records, batch 4 x 1), logging every 2, eval every 2
    train: step 4/20 (20%), loss 1.0786, 1,840 tokens/s, 12s, ETA 48s
    eval:  step 4/20, eval_loss 1.0412

No tqdm bars and no raw log dicts (`{'eval_loss': '1.079', …}`): the trainer's own
progress and printer callbacks are replaced by one that writes these lines to stderr,
on a terminal and in a cron log alike. Numbers are rounded to 4 significant places.
"""

from __future__ import annotations

import math
import sys
import time


def logging_every(total: int, requested: int) -> int:
    """Steps between loss logs: the requested interval, but at least ~10 points a run
    (a 20-step run logging every 10 steps draws a line of two points)."""
    return max(1, min(requested, total // 10 or 1))


def eval_every(total: int, requested: int | None) -> int:
    """Steps between evaluations: the requested interval, else about 10 a run and never
    every step (a 5-step run evaluates at steps 2 and 4, then once more at the end)."""
    if requested:
        return requested
    return max(1, min(total, max(2, math.ceil(total / 10))))


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def number(x) -> str:
    """4 significant places: 1.0786, 0.0004321, 12.35."""
    return f"{float(x):.4g}" if isinstance(x, (int, float)) else str(x)


def train_line(step: int, total: int, logs: dict, elapsed: float) -> str:
    parts = [f"train: step {step}/{total} ({step / max(total, 1):.0%})"]
    if "loss" in logs:
        parts.append(f"loss {number(logs['loss'])}")
    tokens = logs.get("num_tokens")
    if tokens and elapsed > 0:
        parts.append(f"{tokens / elapsed:,.0f} tokens/s")
    parts.append(duration(elapsed))
    if 0 < step < total and elapsed > 0:
        parts.append(f"ETA {duration(elapsed / step * (total - step))}")
    return ", ".join(parts)


def eval_line(step: int, total: int, logs: dict) -> str:
    shown = [f"{k} {number(v)}" for k, v in logs.items()
             if k.startswith("eval_") and k not in ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")]
    return f"eval:  step {step}/{total}, " + ", ".join(shown)


def progress_callback(stream=None):
    """A transformers TrainerCallback writing the lines above to `stream` (stderr)."""
    from transformers import TrainerCallback

    class TrainProgress(TrainerCallback):
        def __init__(self):
            self.stream = stream if stream is not None else sys.stderr
            self.t0: float | None = None

        def _say(self, line: str) -> None:
            print(line, file=self.stream, flush=True)

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()
            evals = f", eval every {args.eval_steps}" if str(args.eval_strategy).endswith("steps") else ""
            self._say(f"train: {state.max_steps} steps (batch {args.per_device_train_batch_size} x "
                      f"{args.gradient_accumulation_steps}), logging every {args.logging_steps}{evals}")

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if self.t0 is None:  # an evaluate() before training (the baseline eval loss)
                if "eval_loss" in logs:
                    self._say("eval:  before training, " + eval_line(0, 0, logs).split(", ", 1)[1])
                return
            if any(k.startswith("eval_") for k in logs):
                self._say(eval_line(state.global_step, state.max_steps, logs))
            elif "train_loss" in logs:
                self._say(f"train: done, {state.global_step} steps in {duration(time.perf_counter() - self.t0)}, "
                          f"mean loss {number(logs['train_loss'])}")
            elif "loss" in logs:
                self._say(train_line(state.global_step, state.max_steps, logs, time.perf_counter() - self.t0))

    return TrainProgress()
