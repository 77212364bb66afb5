"""A score threshold as a filter: records a scorer rates below `minimum` are dropped
(`below_threshold`), records it could not score too (`judge_failed` or the scorer's own
error) — never kept on a guessed score. The scorer is injected (`score_many(records) ->
[{value, reason, ...}]`, e.g. quality.judge.JudgeScorer), so this layer needs no LLM.

Each checked record carries its score in meta.scores.<name>, kept or dropped. `prefetch`
scores records ahead of the ordered check, from any thread (FilterChain.prefetch): a
generator's round asks the judge while other rounds' requests are out.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from ..records import Record
from .base import Filter


class ScoreGate(Filter):
    def __init__(self, score_many: Callable[[list[Record]], list[dict]], minimum: float, name: str = "judge"):
        self.score_many, self.minimum, self.name = score_many, minimum, name
        self._scores: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.last_details: list[dict] = []

    def prefetch(self, records: Sequence[Record]) -> list[Record]:
        records = list(records)
        with self._lock:
            todo = {k: r for r in records if (k := r.content_id()) not in self._scores}
        if not todo:
            return records
        scores = self.score_many(list(todo.values()))
        if len(scores) != len(todo):
            raise RuntimeError(f"scorer {self.name} returned {len(scores)} scores for {len(todo)} records")
        with self._lock:
            self._scores.update(zip(todo, scores))
        return records

    def check_many(self, records: Sequence[Record]) -> list[str | None]:
        records = list(records)
        self.prefetch(records)
        reasons: list[str | None] = []
        details: list[dict] = []
        keys = [r.content_id() for r in records]
        with self._lock:
            scores = [self._scores.get(k) for k in keys]
            for k in keys:  # checked once: a later copy of the record is scored again
                self._scores.pop(k, None)
        for r, s in zip(records, scores):
            s = s if s is not None else {"value": None, "error": f"{self.name}_failed"}
            r.meta.setdefault("scores", {})[self.name] = s
            value = s.get("value")
            if value is None:
                reasons.append(s.get("error") or f"{self.name}_failed")
            elif value < self.minimum:
                reasons.append("below_threshold")
            else:
                reasons.append(None)
            details.append({} if reasons[-1] is None else
                           {"score": value, "minimum": self.minimum, **({"why": s["reason"]} if s.get("reason") else {})})
        self.last_details = details
        return reasons
