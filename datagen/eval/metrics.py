"""Per-item metrics: ROUGE-L against the reference, exact match for label answers, and
the averages over a set. Pure functions on strings.

ROUGE-L is rouge-score's rougeL F-measure (the Self-Instruct paper's SuperNI metric), with
the ROUGE filter's tokenizer so each Chinese character is a token (rouge-score's own
tokenizer keeps only [a-z0-9] and scores every Chinese pair 0).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable

from ..filters.rouge import tokenize
from ..records import Record

LABEL_MAX_TOKENS = 3  # a reference this short (and on one line) is a label: exact match applies
LABEL_MAX_CHARS = 40


class _Tokenizer:
    """The object rouge-score's RougeScorer calls `.tokenize` on."""

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return tokenize(text)


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_Tokenizer())


def rouge_l(prediction: str, reference: str) -> float:
    """rougeL F-measure of `prediction` against `reference` (0 when either has no token)."""
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def is_label_item(rec: Record) -> bool:
    """A classification item: meta task_type says so, or the reference is a short label."""
    tt = rec.meta.get("task_type")
    if tt is not None:
        return tt == "classification"
    ref = rec.output.strip()
    return bool(ref) and "\n" not in ref and len(ref) <= LABEL_MAX_CHARS and len(tokenize(ref)) <= LABEL_MAX_TOKENS


_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


def normalize_label(text: str) -> str:
    """Case, width, surrounding whitespace and punctuation do not count ("Positive." == "positive")."""
    t = unicodedata.normalize("NFKC", text).strip().lower()
    t = " ".join(t.split())
    return _EDGE.sub("", t)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_label(prediction) == normalize_label(reference) != "")


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 6) if vals else None
