"""Self-QA's paid-for work the run did not use (answered past --num, a round in flight at
the stop, a round the cap stopped before its answers): `surplus` lines with their tokens."""

from __future__ import annotations

from typing import Iterator

from ...records import Record
from ..base import Outcome, surplus


def paid(gen, question, comp) -> list[int]:
    """A question's tokens: its share of its question request, and its answer's (if asked)."""
    p, t = gen._paid.get((question[0].ref, question[2]), (0, 0))
    return [p + comp.prompt_tokens, t + comp.completion_tokens] if comp else [p, t]


def unused(gen, pending, replies, why: str) -> Iterator[Outcome]:
    """A surplus line per pending question (with its answer, when one came back)."""
    for i, (c, lang, q, _) in enumerate(pending):
        comp, meta = replies[i][0] if replies else None, gen._meta(c, lang)
        meta["_tokens"] = paid(gen, pending[i], comp)
        yield surplus(Record(instruction=q, output=comp.text if comp else "", meta=meta), "answer", why)
