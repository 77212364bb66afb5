"""Rules about a reasoning model's trace (meta.reasoning, docs/reasoning.md).

The other filters see the answer alone, since the client keeps the trace apart. These
two look at the trace itself: a trace that never closed means the reply was cut off
while thinking, and a trace with nothing after it is thinking without an answer."""

from __future__ import annotations

from ..records import Record
from .base import Filter


class ReasoningTruncated(Filter):
    name = "reasoning_truncated"

    def check(self, record: Record) -> str | None:
        return "reasoning_truncated" if record.meta.get("reasoning_truncated") else None


class AnswerMissing(Filter):
    name = "answer_missing"

    def check(self, record: Record) -> str | None:
        if record.meta.get("reasoning") and not record.output.strip():
            return "answer_missing"
        return None


def trace_reason(record: Record) -> str | None:
    """The first of the two rules that drops `record` (for a generator that decides an
    answer's fate itself, before the chain)."""
    return ReasoningTruncated().check(record) or AnswerMissing().check(record)
