"""Self-QA's question-stage checks: what a question is dropped for before it is answered."""

from __future__ import annotations

from ...filters.base import Verdict
from ...io.documents import Chunk
from ...records import Record
from ..base import Outcome
from . import extractive as ex
from .parsing import refers_to_source

FILTER = "self_qa"


def check_questions(meta_of, questions, asked: set[str], mode: str):
    """The question-stage drops of a round and the questions left to answer. `meta_of(chunk,
    lang)` gives a record's provenance meta. Order-sensitive (`asked`: a question an earlier
    one asked is a duplicate): rounds in order."""
    pre: list[Outcome] = []
    pending: list[tuple[Chunk, str, str, ex.Span | None]] = []
    for c, lang, q, source in questions:
        reason = ("question_refers_to_text" if refers_to_source(q)
                  else "not_a_question" if source and not ex.is_question(q)
                  else "question_off_topic" if source and not ex.on_topic(q, source.text)
                  else "duplicate_question" if q in asked else None)
        asked.add(q)
        if reason:
            meta = meta_of(c, lang)
            if source:  # the sentence it was written from, to judge the drop by
                meta.update(answer_mode=mode, answer_span=ex.document_span(c, source))
            pre.append(Outcome(Record(instruction=q, output=source.text if source else "", meta=meta),
                               Verdict(False, reason, FILTER), stage="question"))
        else:
            pending.append((c, lang, q, source))
    return pre, pending
