"""How far a run has got, while it runs: one overall bar on a terminal, plain lines in logs.

On a TTY an overall bar (kept / --num, requests, req/s) sits above the per-step bars the
clients draw. Off a terminal (cron, CI, `2> run.log`) nothing draws bars, so a line goes
to stderr every DATAGEN_PROGRESS_SECONDS (default 30; 0: at every outcome; `off`: never):

    progress: kept 12/50 tasks (31 records), 240 requests, 3.1 req/s, 2m10s

The runner drives it from the outcomes it sees and the client's usage; a ticker thread
writes the lines even while a long batch of requests blocks the runner.
"""

from __future__ import annotations

import os
import sys
import threading
import time

ENV = "DATAGEN_PROGRESS_SECONDS"
DEFAULT_SECONDS = 30.0
FROM_ENV = object()  # interval not given: read DATAGEN_PROGRESS_SECONDS


def interval_from_env() -> float | None:
    """Seconds between plain progress lines; None: no lines."""
    raw = os.environ.get(ENV, "").strip().lower()
    if not raw:
        return DEFAULT_SECONDS
    if raw in ("off", "no", "none", "false"):
        return None
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_SECONDS
    return None if value < 0 else value


def format_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class RunProgress:
    """Counts kept records (and tasks, where records carry meta.task_id) against `num`,
    and reads request counts from `usage` (the client's Usage)."""

    def __init__(self, num: int, usage=None, stream=None, tty: bool | None = None,
                 interval=FROM_ENV, clock=time.monotonic, redraw: float = 0.1, unit: str = "records"):
        self.num = num
        self._unit = unit  # what `num` counts; "tasks" before any task is kept too
        self.usage = usage
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.interval = interval_from_env() if interval is FROM_ENV else interval
        self.clock = clock
        self.redraw = redraw  # the bar's least seconds between redraws
        self.records = 0
        self.seen = 0
        self._tasks: set = set()
        self._t0 = clock()
        self._last_line = self._t0
        self._lock = threading.Lock()
        self._bar = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- counts ---------------------------------------------------------------------
    @property
    def kept(self) -> int:
        """What --num counts: tasks when records say which task they belong to."""
        return len(self._tasks) if self._tasks else self.records

    @property
    def unit(self) -> str:
        return "tasks" if self._tasks else self._unit

    def requests(self) -> tuple[int, int]:
        u = self.usage
        return (u.requests, u.cached) if u is not None else (0, 0)

    def line(self) -> str:
        elapsed = self.clock() - self._t0
        sent, cached = self.requests()
        kept = f"kept {self.kept}/{self.num} {self.unit}"
        if self.unit == "tasks":
            kept += f" ({self.records} records)"
        reqs = f"{sent} requests" + (f" + {cached} cached" if cached else "")
        rate = sent / elapsed if elapsed > 0 else 0.0
        return f"progress: {kept}, {reqs}, {rate:.1f} req/s, {format_duration(elapsed)}"

    # -- driving --------------------------------------------------------------------
    def start(self) -> "RunProgress":
        if self.tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.num, desc="kept", unit=" records", file=self.stream, leave=False,
                             dynamic_ncols=True, mininterval=self.redraw)
        elif self.interval:
            self._ticker = threading.Thread(target=self._tick, name="datagen-progress", daemon=True)
            self._ticker.start()
        return self

    def update(self, outcome) -> None:
        """Count one outcome from the generator."""
        self.seen += 1
        if outcome.verdict.kept:
            self.records += 1
            task = (outcome.record.meta or {}).get("task_id")
            if task is not None:
                self._tasks.add(task)
        if self._bar is not None:
            self._bar.unit = " " + self.unit
            sent, cached = self.requests()
            self._bar.set_postfix_str(f"{sent} req" + (f", {cached} cached" if cached else ""), refresh=False)
            self._bar.update(self.kept - self._bar.n)  # redraws at most every `redraw` seconds
        elif self.interval is not None and self.clock() - self._last_line >= self.interval:
            self._emit()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1.0)
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def follow(self, outcomes):
        """Yield `outcomes`, counting each; the bar or ticker lives as long as the loop."""
        self.start()
        try:
            for outcome in outcomes:
                self.update(outcome)
                yield outcome
        finally:
            self.close()

    def __enter__(self) -> "RunProgress":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _emit(self) -> None:
        with self._lock:
            self._last_line = self.clock()
            print(self.line(), file=self.stream, flush=True)

    def _tick(self) -> None:
        """Write a line when none was written for an interval (a long batch blocks update)."""
        while not self._stop.wait(min(self.interval, 5.0)):
            if self.clock() - self._last_line >= self.interval:
                self._emit()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


QUIET_ENV = {  # read by the libraries when they are imported; a user's own setting wins
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
QUIET_ENV_OFF_TTY = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # `datasets.map`/`save_to_disk` bars in train/export
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def quiet_libraries(tty: bool | None = None) -> None:
    """Silence library noise in normal runs: transformers logs errors only, and off a
    terminal no library draws progress bars. Cheap (environment switches, read when the
    libraries load); libraries already loaded are switched directly."""
    if tty is None:
        tty = _isatty(sys.stderr)
    for key, value in {**QUIET_ENV, **({} if tty else QUIET_ENV_OFF_TTY)}.items():
        os.environ.setdefault(key, value)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    if not tty and "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
