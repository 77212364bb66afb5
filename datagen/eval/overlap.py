"""Contamination check: does an eval item's instruction+input appear in the training data?

Exact match after tokenizing, or any shared n-gram of tokens (13 by default, as in the
GPT-3 / Self-Instruct contamination studies). Tokens are the ROUGE filter's: lowercase
[a-z0-9]+ runs, and each Chinese/Japanese/Korean character on its own, so Chinese text is
checked too. Pure functions: records in, (index, reason) out.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ..filters.rouge import tokenize
from ..records import Record


def item_tokens(rec: Record) -> list[str]:
    """The tokens of instruction + input, the part of an item a model is prompted with."""
    return tokenize(f"{rec.instruction}\n{rec.input}")


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def find_overlaps(evals: Sequence[Record], train: Iterable[Record], n: int = 13) -> list[tuple[int, str]]:
    """(index into `evals`, "exact_overlap" | "ngram_overlap") for every eval item that
    shares its whole instruction+input, or any n-gram of it, with a training record."""
    exact: set[tuple[str, ...]] = set()
    grams: set[tuple[str, ...]] = set()
    for rec in train:
        toks = item_tokens(rec)
        exact.add(tuple(toks))
        grams |= ngrams(toks, n)
    found = []
    for i, rec in enumerate(evals):
        toks = item_tokens(rec)
        if tuple(toks) in exact:
            found.append((i, "exact_overlap"))
        elif grams and any(g in grams for g in ngrams(toks, n)):
            found.append((i, "ngram_overlap"))
    return found
