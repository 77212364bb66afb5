"""What `--num` can still use while rounds are in flight (pipelined Self-Instruct).

A round takes on tasks in its turn (the ordered pool check, generators/rounds.py); by then
every earlier round has taken on its own, so the tasks in flight are known exactly. A round
takes on only what `--num` still lacks after them, each task counted at the share that
finished rounds kept (tasks whose instances all failed leave room for more); a new round is
planned only when the rounds in flight are not expected to cover `--num` already. Work
past that is not started, so pipelining costs what strict rounds cost.
"""

from __future__ import annotations

import math
import threading

from ...records import Record
from ..base import surplus


class Demand:
    def __init__(self, num: int, per_round: float):
        self.num = num
        self.done = 0  # tasks with a kept record
        self.accepted = 0  # tasks taken on by rounds past their turn, not yet finished
        self.unchecked = 0  # rounds planned, not yet at their turn
        self.tasks_in = self.tasks_ok = 0  # tasks of finished rounds: taken on, kept
        self.per_turn: list[int] = []
        self.default_per_round = per_round
        self._lock = threading.Lock()

    def rate(self) -> float:
        """The share of taken-on tasks that end with a kept record (1 until rounds say otherwise)."""
        if self.tasks_in < 4:
            return 1.0
        return max(0.25, self.tasks_ok / self.tasks_in)

    def need(self) -> float:
        """Tasks --num lacks after what the rounds in flight are expected to keep."""
        with self._lock:
            r = self.rate()
            per = sum(self.per_turn) / len(self.per_turn) if self.per_turn else self.default_per_round
            return self.num - self.done - (self.accepted + self.unchecked * per) * r

    def planned(self) -> None:
        with self._lock:
            self.unchecked += 1

    def room(self) -> int:
        """In a round's turn: how many tasks it may take on."""
        with self._lock:
            self.unchecked = max(0, self.unchecked - 1)
            r = self.rate()
            left = self.num - self.done - self.accepted * r
            return math.ceil(left / r - 1e-9) if left > 0 else 0

    def took(self, n: int) -> None:
        with self._lock:
            self.accepted += n
            self.per_turn.append(n)

    def finished(self, taken: int, kept: int) -> None:
        with self._lock:
            self.accepted = max(0, self.accepted - taken)
            self.tasks_in += taken
            self.tasks_ok += kept
            self.done += kept


def task_record(gen, client, task) -> Record:
    p, c = task.tokens
    return Record(instruction=task.instruction,
                  meta=gen.meta(client, task, usage={"prompt_tokens": p, "completion_tokens": c}))


def drain(gen, client, result):
    """A round in flight when the run stopped: what it had paid for, as surplus."""
    pre, tasks, drafts, leftover = result
    gen.report.count("abandoned_rounds")
    yield from pre
    yield from (surplus(r, "instruction", "round in flight when the run stopped") for r in leftover)
    for task in tasks:
        recs, rejects = drafts.get(task.id, ([], []))
        yield from rejects
        yield from (surplus(r, "instance", "round in flight when the run stopped") for r in recs)
        if not recs and not rejects:
            yield surplus(task_record(gen, client, task), "instruction", "round in flight when the run stopped")
