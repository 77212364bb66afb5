"""ROUGE-L near-duplicate detection: exactly rouge-score's rougeL F-measure, but fast.

Self-Instruct and Alpaca compare every candidate instruction with every kept one using
rouge-score in pure Python, which takes hours past ~50k instructions and scores every
Chinese pair 0 (its tokenizer keeps only [a-z0-9]). Here:

- `tokenize` is rouge-score's tokenizer (lowercase, [a-z0-9]+ runs, no stemmer) except that
  each Han/Kana/Hangul character is one token, so Chinese near-duplicates are caught.
- The LCS runs in C (rapidfuzz's bit-parallel LCSseq over tokens mapped to characters).
- `RougeIndex` only computes the LCS for kept texts that could pass the threshold: their
  length must allow it, and their token-multiset overlap with the candidate (an upper
  bound of the LCS) must reach the smallest passing LCS. Both bounds are exact, so the
  index drops exactly the candidates the brute-force loop drops.
- The decision uses rouge-score's own float arithmetic (F = 2PR/(P+R)), not 2·LCS/(la+lb):
  the two differ by an ulp in about a quarter of pairs and flip decisions at the boundary.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from rapidfuzz.distance import LCSseq

from ..records import Record
from ..text import CJK_CHAR

_TOKEN_RE = re.compile(f"[{CJK_CHAR}]|[a-z0-9]+")
_MAX_CHAR = 0x10FFFF


def tokenize(text: str) -> list[str]:
    """rouge-score's tokens (no stemmer), with each CJK character a token of its own."""
    return _TOKEN_RE.findall(text.lower())


def fmeasure(lcs: int, la: int, lb: int) -> float:
    """rouge-score's rougeL F for an LCS length and two token counts, same float steps."""
    if lcs <= 0 or la <= 0 or lb <= 0:
        return 0.0
    precision = lcs / lb
    recall = lcs / la
    return 2 * precision * recall / (precision + recall)


def _lcs_tokens(a: Sequence[str], b: Sequence[str]) -> int:
    # map tokens to characters: rapidfuzz compares str buffers directly (and exactly,
    # unlike sequences of objects, which it compares by hash)
    vocab: dict[str, str] = {}
    sa = "".join(vocab.setdefault(t, chr(len(vocab))) for t in a)
    sb = "".join(vocab.setdefault(t, chr(len(vocab))) for t in b)
    return LCSseq.similarity(sa, sb)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts (equal to rouge-score's rougeL fmeasure for
    non-CJK text; symmetric)."""
    ta, tb = tokenize(a), tokenize(b)
    if not ta or not tb:
        return 0.0
    return fmeasure(_lcs_tokens(ta, tb), len(ta), len(tb))


class RougeIndex:
    """Kept texts, queried one candidate at a time: "is any kept text more similar than
    `threshold`?" Answers exactly what a loop over rouge-score would, much faster.

    `add(text)` after each kept candidate (incremental), or `dedup(texts)` for a batch
    in order (each text compared with the index and with the texts kept before it).
    """

    def __init__(self, threshold: float | None = 0.7):
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"ROUGE-L threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold
        self.texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._seqs: list[str] = []  # token ids as characters, one str per text
        self._lens: list[int] = []
        self._postings: dict[int, list[int]] = {}  # (token, occurrence) -> text ids
        self._exact: dict[str, int] = {}  # token sequence -> first text with it
        self._need: dict[tuple[int, int], int] = {}
        self._window: dict[int, tuple[int, int, int]] = {}
        self._last: tuple[str, str, list[int]] | None = None
        self.lcs_calls = 0  # how many LCS computations the bounds let through

    def __len__(self) -> int:
        return len(self.texts)

    # ---- encoding ---------------------------------------------------------------------
    def _encode(self, text: str) -> tuple[str, list[int]]:
        """Token sequence as a str of token-id characters, and its (token, occurrence)
        element keys for the inverted index."""
        if self._last is not None and self._last[0] == text:
            return self._last[1], self._last[2]
        vocab = self._vocab
        ids = []
        for tok in tokenize(text):
            i = vocab.get(tok)
            if i is None:
                i = vocab[tok] = len(vocab)
                if i > _MAX_CHAR:
                    raise OverflowError("vocabulary larger than the Unicode range")
            ids.append(i)
        seq = "".join(map(chr, ids))
        counts: dict[int, int] = {}
        elems = []
        for i in ids:
            o = counts.get(i, 0)
            counts[i] = o + 1
            elems.append(i | (o << 21))
        self._last = (text, seq, elems)
        return seq, elems

    # ---- exact decision tables --------------------------------------------------------
    def _passes(self, lcs: int, la: int, lb: int) -> bool:
        return fmeasure(lcs, la, lb) > self.threshold

    def need(self, la: int, lb: int) -> int:
        """Smallest LCS whose score exceeds the threshold for lengths (la, lb); 0 when
        none can (LCS <= min(la, lb))."""
        key = (la, lb) if la <= lb else (lb, la)
        n = self._need.get(key)
        if n is None:
            top = min(la, lb)
            n = max(1, int(self.threshold * (la + lb) / 2))
            while n > 1 and self._passes(n - 1, la, lb):
                n -= 1
            while n <= top and not self._passes(n, la, lb):
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
            if t is None or not self._passes(la, la, la):
                w = (0, -1, 0)
            else:
                lo = max(1, int(t * la / (2 - t)))
                while lo > 1 and self._passes(lo - 1, la, lo - 1):
                    lo -= 1
                while not self._passes(lo, la, lo):
                    lo += 1
                hi = max(la, int(la * (2 - t) / t) if t > 0 else la)
                while self._passes(la, la, hi + 1):
                    hi += 1
                while hi > la and not self._passes(la, la, hi):
                    hi -= 1
                w = (lo, hi, self.need(la, lo))
            self._window[la] = w
        return w

    # ---- index ------------------------------------------------------------------------
    def add(self, text: str) -> int:
        """Add a kept text; returns its index."""
        seq, elems = self._encode(text)
        idx = len(self.texts)
        self.texts.append(text)
        self._seqs.append(seq)
        self._lens.append(len(seq))
        if seq in self._exact or not seq:
            return idx  # a repeat cannot raise any score; empty texts score 0 with all
        self._exact[seq] = idx
        postings = self._postings
        for e in elems:
            p = postings.get(e)
            if p is None:
                postings[e] = [idx]
            else:
                p.append(idx)
        return idx

    def add_many(self, texts: Iterable[str]) -> list[int]:
        return [self.add(t) for t in texts]

    def match(self, text: str) -> tuple[float, int] | None:
        """The most similar kept text among those scoring above the threshold, as
        (score, index); None when no kept text exceeds the threshold."""
        if self.threshold is None:
            return None
        seq, elems = self._encode(text)
        la = len(seq)
        if la == 0:
            return None
        lo, hi, k_min = self.window(la)
        if hi < lo:
            return None
        j = self._exact.get(seq)
        if j is not None:
            return 1.0, j
        # probe with the rarest la - k_min + 1 elements: a text sharing >= k_min
        # (token, occurrence) elements with the candidate must share one of them
        postings = self._postings
        ranked = sorted(elems, key=lambda e: len(postings.get(e, ())))
        prefix = ranked[: la - k_min + 1]
        rest = la - len(prefix)
        hits: dict[int, int] = {}
        get = hits.get
        for e in prefix:
            for d in postings.get(e, ()):
                hits[d] = get(d, 0) + 1
        best: tuple[float, int] | None = None
        lens, seqs, need = self._lens, self._seqs, self.need
        for d, h in hits.items():
            lb = lens[d]
            if lb < lo or lb > hi:
                continue
            k = need(la, lb)
            if h + rest < k:
                continue  # overlap bound: even all remaining elements cannot reach k
            self.lcs_calls += 1
            lcs = LCSseq.similarity(seq, seqs[d], score_cutoff=k)
            if lcs >= k:
                score = fmeasure(lcs, la, lb)
                if best is None or score > best[0] or (score == best[0] and d < best[1]):
                    best = (score, d)
        return best

    def most_similar(self, text: str) -> tuple[float, int]:
        """Exact highest score against every kept text, (0.0, -1) for an empty index.
        Brute force (in C); use `match` for threshold decisions."""
        seq, _ = self._encode(text)
        la = len(seq)
        best = (0.0, -1)
        for d, sb in enumerate(self._seqs):
            if la == 0 or not sb:
                score = 0.0
            else:
                score = fmeasure(LCSseq.similarity(seq, sb), la, len(sb))
            if score > best[0] or best[1] < 0:
                best = (score, d)
        return best

    def dedup(self, texts: Iterable[str]) -> list[tuple[float, int] | None]:
        """Batch mode: for each text in order, its match (None = kept and added)."""
        out = []
        for text in texts:
            m = self.match(text)
            if m is None:
                self.add(text)
            out.append(m)
        return out


class RougeDedup:
    """Drops an instruction whose ROUGE-L F against a kept instruction exceeds the
    threshold (Self-Instruct: 0.7)."""

    name = "rouge"

    def __init__(self, threshold: float = 0.7):
        self.index = RougeIndex(threshold)
        self.last_detail: dict = {}

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        m = self.index.match(record.instruction)
        if m is None:
            return None
        score, idx = m
        self.last_detail = {"most_similar": self.index.texts[idx], "rouge_l": round(score, 4)}
        return "rouge_dup"

    def add(self, record: Record) -> None:
        self.index.add(record.instruction)

    def add_many(self, records: Iterable[Record]) -> None:
        for r in records:
            self.index.add(r.instruction)
