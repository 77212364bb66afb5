"""Exact bounds behind RougeIndex: which lengths and LCS values can pass the threshold,
and an upper bound of the token-multiset overlap cheap enough to run before every LCS.

Every function here errs only on the side of letting a pair through: a pair they reject
cannot score above the threshold, so the index decides exactly as the brute-force loop.
"""

from __future__ import annotations

import numpy as np

BUCKETS = 128  # overlap histogram width (a power of two): token id mod BUCKETS, so the
# most frequent tokens (the lowest ids once primed) get a bucket each
_UNREACHABLE = 1 << 62  # a need above any overlap bound


def fmeasure(lcs: int, la: int, lb: int) -> float:
    """rouge-score's rougeL F for an LCS length and two token counts, same float steps."""
    if lcs <= 0 or la <= 0 or lb <= 0:
        return 0.0
    precision = lcs / lb
    recall = lcs / la
    return 2 * precision * recall / (precision + recall)


def histogram(codes: np.ndarray) -> tuple[np.ndarray, bool]:
    """Token counts per bucket (uint8) for token ids `codes`, and whether a count went
    past 255 (that row then bounds nothing: the caller lets the text through)."""
    counts = np.bincount(codes & (BUCKETS - 1), minlength=BUCKETS)
    return np.minimum(counts, 255).astype(np.uint8), bool(counts.max(initial=0) > 255)


def overlap_bound(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Upper bound of the token-multiset overlap (so of the LCS) of the query with each
    row's text: per bucket the smaller count. Merging tokens into buckets can only raise
    the minimum, and clipping the query at 255 changes nothing against rows <= 255."""
    return np.minimum(rows, query).sum(axis=1, dtype=np.int64)


class LengthBounds:
    """need() and window() for one threshold, from rouge-score's own arithmetic, cached."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._need: dict[tuple[int, int], int] = {}
        self._window: dict[int, tuple[int, int, int]] = {}
        self._tables: dict[int, np.ndarray] = {}
        self._full: dict[int, np.ndarray] = {}

    def passes(self, lcs: int, la: int, lb: int) -> bool:
        return fmeasure(lcs, la, lb) > self.threshold

    def need(self, la: int, lb: int) -> int:
        """Smallest LCS whose score exceeds the threshold for lengths (la, lb); 0 when
        none can (LCS <= min(la, lb))."""
        key = (la, lb) if la <= lb else (lb, la)
        n = self._need.get(key)
        if n is None:
            top = min(la, lb)
            n = max(1, int(self.threshold * (la + lb) / 2))
            while n > 1 and self.passes(n - 1, la, lb):
                n -= 1
            while n <= top and not self.passes(n, la, lb):
                n += 1
            n = n if n <= top else 0
            self._need[key] = n
        return n

    def window(self, la: int) -> tuple[int, int, int]:
        """(shortest, longest) text length that can exceed the threshold against a text
        of `la` tokens, and the smallest LCS any of them needs. (0, -1, 0) when none."""
        w = self._window.get(la)
        if w is None:
            t = self.threshold
            if la == 0 or not self.passes(la, la, la):
                w = (0, -1, 0)
            elif t == 0:
                w = (1, 1 << 30, 1)
            else:
                lo = max(1, int(t * la / (2 - t)))
                while lo > 1 and self.passes(lo - 1, la, lo - 1):
                    lo -= 1
                while not self.passes(lo, la, lo):
                    lo += 1
                hi = max(la, int(la * (2 - t) / t))
                while self.passes(la, la, hi + 1):
                    hi += 1
                while hi > la and not self.passes(la, la, hi):
                    hi -= 1
                w = (lo, hi, self.need(la, lo))
            self._window[la] = w
        return w

    def need_table(self, la: int, lo: int, hi: int) -> np.ndarray:
        """need(la, lb) for every lb in [lo, hi], indexed by lb - lo; vectorized with the
        same float steps as fmeasure (tests check it against need())."""
        tab = self._tables.get(la)
        if tab is None:
            t = self.threshold
            lb = np.arange(lo, hi + 1, dtype=np.int64)
            top = np.minimum(lb, la)
            base = np.maximum(1, np.floor(t * (la + lb) / 2).astype(np.int64) - 1)
            tab = np.zeros(len(lb), dtype=np.int64)
            for step in (3, 2, 1, 0):  # smallest passing L wins: try from the top down
                lcs = base + step
                p = lcs / lb
                r = lcs / la
                ok = (lcs <= top) & (2 * p * r / (p + r) > t)
                tab = np.where(ok, lcs, tab)
            self._tables[la] = tab
        return tab

    def need_by_len(self, la: int, lo: int, hi: int) -> np.ndarray:
        """need(la, lb) indexed by lb for lb in [0, hi + 1]: need_table inside [lo, hi],
        a need no bound reaches (so the text is dropped) outside it."""
        tab = self._full.get(la)
        if tab is None:
            tab = np.full(hi + 2, _UNREACHABLE, dtype=np.int64)
            tab[lo:hi + 1] = self.need_table(la, lo, hi)
            self._full[la] = tab
        return tab
