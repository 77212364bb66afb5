"""ROUGE-L near-duplicate detection: exactly rouge-score's rougeL F-measure, but fast.

Self-Instruct and Alpaca compare every candidate instruction with every kept one using
rouge-score in pure Python, which takes hours past ~50k instructions and scores every
Chinese pair 0 (its tokenizer keeps only [a-z0-9]). Here:

- `tokenize` is rouge-score's tokenizer (lowercase, [a-z0-9]+ runs, no stemmer) except that
  each Han/Kana/Hangul character is one token, so Chinese near-duplicates are caught.
- The LCS runs in C (rapidfuzz's bit-parallel LCSseq over tokens mapped to characters).
- `RougeIndex` only computes the LCS for kept texts that could pass the threshold: the
  lengths must allow it, and the token-multiset overlap (an upper bound of the LCS) must
  reach the smallest passing LCS, found by prefix filtering with a positional bound as in
  set-similarity joins, then by a bucketed overlap histogram (rouge_bounds). Every bound
  is exact, so the index drops exactly the candidates the brute-force loop drops.
- The decision uses rouge-score's own float arithmetic (F = 2PR/(P+R)), not 2·LCS/(la+lb):
  the two differ by an ulp in about a quarter of pairs and flip decisions at the boundary.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter, defaultdict, deque
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from ..records import Record
from ..text import CJK_CHAR
from .base import Filter
from .rouge_bounds import BUCKETS, LengthBounds, fmeasure, histogram, overlap_bound

__all__ = ["RougeDedup", "RougeIndex", "fmeasure", "rouge_l", "tokenize"]

_TOKEN_RE = re.compile(f"[{CJK_CHAR}]|[a-z0-9]+")
_CJK_SEARCH = re.compile(f"[{CJK_CHAR}]").search
_MAX_CHAR = 0x10FFFF
_EMPTY = np.zeros(0, dtype=np.int32)
_NO_POSTINGS = array("q")
_FULL_TABLE_MAX = 1 << 16  # longest window given a need table indexed by length
PRIME_SAMPLE = 5000
_POS_MASK = (1 << 20) - 1  # positions past this are stored clipped: a looser, still exact bound
_ASCII_SPACE = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isdigit() or "a" <= c <= "z")})


def tokenize(text: str) -> list[str]:
    """rouge-score's tokens (no stemmer), with each CJK character a token of its own."""
    text = text.lower()
    if not text.isascii():
        if _CJK_SEARCH(text):
            return _TOKEN_RE.findall(text)
        # every non-ASCII character separates tokens, as in rouge-score's [^a-z0-9]
        text = text.encode("ascii", "replace").decode("ascii")
    return text.translate(_ASCII_SPACE).split()  # same tokens, 3x faster than the regex


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


def _new_postings() -> array:
    return array("q")


class _Vocab(dict):
    """token -> one character; unseen tokens get the next code point on first lookup, so
    `"".join(map(vocab.__getitem__, tokens))` encodes a text in C."""

    def __missing__(self, token: str) -> str:
        n = len(self)
        if n >= 0xD800:
            n += 0x800  # skip the surrogate block: sequences must encode as UTF-32
        if n > _MAX_CHAR:
            raise OverflowError("more distinct tokens than Unicode code points")
        c = self[token] = chr(n)
        return c


class RougeIndex:
    """Kept texts, queried one candidate at a time: "is any kept text more similar than
    `threshold`?" Answers exactly what a loop over rouge-score would, much faster.

    `add(text)` after each kept candidate (incremental), or `dedup(texts)` for a batch
    in order (each text compared with the index and with the texts kept before it).

    Only texts that can pass get an LCS computed. ROUGE-L above the threshold needs an
    LCS of at least k (a function of both lengths, from rouge-score's own arithmetic),
    and the LCS is at most the overlap of the two token multisets. Candidates come from
    prefix filtering, as in set-similarity joins (AllPairs/PPJoin): with the elements
    (token, occurrence) of every text in one fixed order, two texts sharing >= k elements
    share one within their first len - k + 1; only those prefixes are indexed and probed,
    and the position of each shared element bounds the overlap still possible after it.
    A candidate that survives must then pass the bucketed overlap histogram bound
    (rouge_bounds.overlap_bound) before its LCS is computed. All bounds are exact, so
    nothing that would match is skipped. The order puts rare tokens first: later-seen
    tokens (usually rarer), or true document frequency for a batch given to
    `prime()`/`dedup()`.
    """

    def __init__(self, threshold: float | None = 0.7):
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"ROUGE-L threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold
        self.bounds = LengthBounds(threshold if threshold is not None else 1.0)
        self.texts: list[str] = []
        self._vocab = _Vocab()
        self._seqs: list[str] = []  # token ids as characters, one str per text
        self._lens = np.zeros(1024, dtype=np.int32)
        self._hist = np.zeros((1024, BUCKETS), dtype=np.uint8)  # overlap histogram per text
        self._unbounded = np.zeros(1024, dtype=bool)  # histogram overflowed: no bound
        self._any_unbounded = False
        self._at = np.empty(0, dtype=np.int64)  # scratch: text id -> entry, reused per query
        # prefix element -> text id << 20 | the element's position in that text's order
        self._postings: defaultdict[int, array] = defaultdict(_new_postings)
        self._exact: dict[str, int] = {}  # token sequence -> first text with it
        self._arange = np.arange(0, dtype=np.int64)  # scratch: 0, 1, 2, ... sliced per query
        self._last: tuple[str, str] | None = None
        self._last_parts: tuple[str, int, tuple] | None = None
        self.lcs_calls = 0  # how many LCS computations the bounds let through

    def __len__(self) -> int:
        return len(self.texts)

    # ---- encoding ---------------------------------------------------------------------
    def encode(self, text: str) -> str:
        """The text's tokens as a string of token-id characters."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        seq = "".join(map(self._vocab.__getitem__, tokenize(text)))
        self._last = (text, seq)
        return seq

    def prime(self, texts: Iterable[str]) -> None:
        """Number the tokens of `texts` by ascending document frequency, so prefixes hold
        the rarest tokens (fewer candidates, same results). No effect once tokens exist."""
        if self._vocab:
            return
        texts = list(texts)
        step = max(1, len(texts) // PRIME_SAMPLE)  # frequencies from a sample are enough
        df: Counter[str] = Counter()
        for text in texts[::step]:
            df.update(set(tokenize(text)))
        for tok, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])):
            self._vocab[tok]  # noqa: B018 - assigns the next id; the order is by descending id

    def _parts(self, seq: str, size: int) -> tuple[list[int], np.ndarray, bool]:
        """The first `size` elements of `seq` in the global order (token id descending,
        then occurrence), each as token id | occurrence << 21, and its histogram. Cached
        for the last text: a kept candidate is added right after its query."""
        part = self._last_parts
        if part is not None and part[0] == seq and part[1] == size:
            return part[2]
        codes = np.frombuffer(seq.encode("utf-32-le"), dtype=np.uint32)
        # ~id sorts ascending in the order we want; occurrence = index - first index
        inv = np.sort(~codes)[:size]
        occ = np.arange(len(inv)) - np.searchsorted(inv, inv)
        out = (((~inv).astype(np.int64) | (occ << 21)).tolist(), *histogram(codes))
        self._last_parts = (seq, size, out)
        return out

    # ---- index ------------------------------------------------------------------------
    def add(self, text: str) -> int:
        """Add a kept text; returns its index."""
        seq = self.encode(text)
        idx = len(self.texts)
        self.texts.append(text)
        self._seqs.append(seq)
        if idx >= len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
            self._hist = np.concatenate([self._hist, np.zeros_like(self._hist)])
            self._unbounded = np.concatenate([self._unbounded, np.zeros_like(self._unbounded)])
        self._lens[idx] = len(seq)
        if seq in self._exact or not seq:
            return idx  # a repeat cannot raise any score; empty texts score 0 with all
        self._exact[seq] = idx
        if self.threshold is None:
            return idx
        lo, hi, k = self.bounds.window(len(seq))
        if hi < lo:
            return idx
        keys, self._hist[idx], unbounded = self._parts(seq, len(seq) - k + 1)
        if unbounded:
            self._unbounded[idx] = self._any_unbounded = True
        values = range(idx << 20, (idx << 20) + min(len(keys), _POS_MASK + 1))
        if len(keys) > len(values):
            values = list(values) + [(idx << 20) | _POS_MASK] * (len(keys) - len(values))
        # C-level loop: postings[key].append(value) for each prefix element
        deque(map(array.append, map(self._postings.__getitem__, keys), values), maxlen=0)
        return idx

    def add_many(self, texts: Iterable[str]) -> list[int]:
        return [self.add(t) for t in texts]

    def _candidates(self, seq: str, lo: int, hi: int, k_min: int) -> tuple[np.ndarray, np.ndarray]:
        """Indexed texts whose overlap bounds reach the LCS they need, with that need."""
        la = len(seq)
        keys, query, _ = self._parts(seq, la - k_min + 1)
        plists = list(map(self._postings.get, keys, repeat(_NO_POSTINGS)))
        packed = np.frombuffer(b"".join(plists), dtype=np.int64)
        m = len(packed)
        if not m:
            return _EMPTY, _EMPTY
        docs = packed >> 20
        # Per text: c shared prefix elements, and for any one of them at positions (i, j)
        # overlap <= c + what follows it on the shorter side. Sorting-free (linear): the
        # entry kept per text is whichever the scatter writes last (normally the last in
        # the candidate's order, the tightest); any entry gives a valid bound.
        if len(self._at) < len(self.texts):
            self._at = np.empty(2 * len(self.texts), dtype=np.int64)
        if len(self._arange) < m:
            self._arange = np.arange(2 * m, dtype=np.int64)
        at, entries = self._at, self._arange[:m]
        at[docs] = entries  # stale values elsewhere are never read
        rep = at[docs]  # for each entry, the one entry that represents its text
        e = np.flatnonzero(rep == entries)
        shared = np.bincount(rep)[e]  # e holds values of rep, so bincount covers them
        ids = docs[e]
        lens = self._lens[ids]
        # the probed key (query position) of each representative entry: no np.repeat
        ends = np.fromiter(map(len, plists), dtype=np.int64, count=len(plists)).cumsum()
        pos_a = ends.searchsorted(e, side="right")
        bound = shared + np.minimum(la - 1 - pos_a, lens - 1 - (packed[e] & _POS_MASK))
        if hi < _FULL_TABLE_MAX:
            # need by length, with an unreachable need outside [lo, hi] (the length filter)
            need = self.bounds.need_by_len(la, lo, hi)[np.minimum(lens, hi + 1)]
        else:  # threshold 0 or tiny: windows too wide for a table by length
            ok = (lens >= lo) & (lens <= hi)
            ids, lens, bound = ids[ok], lens[ok], bound[ok]
            if self.threshold == 0:
                need = np.ones(len(ids), dtype=np.int64)
            else:
                need = self.bounds.need_table(la, lo, hi)[lens - lo]
        keep = np.flatnonzero(bound >= need)
        ids, need = ids[keep], need[keep]
        if len(ids):
            ok = overlap_bound(self._hist[ids], query) >= need
            keep = np.flatnonzero(ok | self._unbounded[ids] if self._any_unbounded else ok)
            ids, need = ids[keep], need[keep]
        return ids, need

    def match(self, text: str, exclude: frozenset[int] = frozenset()) -> tuple[float, int] | None:
        """The most similar kept text among those scoring above the threshold, as
        (score, index); None when no kept text exceeds the threshold. Kept texts whose
        index is in `exclude` (a record's own lineage) are not compared."""
        if self.threshold is None:
            return None
        seq = self.encode(text)
        la = len(seq)
        lo, hi, k_min = self.bounds.window(la)
        if hi < lo:
            return None
        j = self._exact.get(seq)
        if j is not None and j not in exclude:
            return 1.0, j
        ids, needs = self._candidates(seq, lo, hi, k_min)
        n = len(ids)
        if not n:
            return None
        self.lcs_calls += n
        seqs = self._seqs
        if n < 8:
            lcs = [LCSseq.similarity(seq, seqs[d], score_cutoff=k) for d, k in zip(ids.tolist(), needs.tolist())]
        else:  # one C call for the whole candidate list
            lcs = process.cdist([seq], list(map(seqs.__getitem__, ids.tolist())), scorer=LCSseq.similarity,
                                score_cutoff=int(needs.min()), dtype=np.int32)[0]
        hits = np.flatnonzero(np.asarray(lcs) >= needs)
        best: tuple[float, int] | None = None
        for i in hits.tolist():
            d = int(ids[i])
            if d in exclude:
                continue
            score = fmeasure(int(lcs[i]), la, len(seqs[d]))
            if best is None or score > best[0] or (score == best[0] and d < best[1]):
                best = (score, d)  # ties go to the earliest kept text
        return best

    def most_similar(self, text: str) -> tuple[float, int]:
        """Exact highest score against every kept text (ties: the earliest), (0.0, -1)
        for an empty index. All LCS in one C call; use `match` for threshold decisions."""
        if not self.texts:
            return 0.0, -1
        m = self.match(text) if self.threshold is not None else None
        if m is not None:
            return m  # nothing below the threshold can beat a match above it
        seq = self.encode(text)
        if not seq:
            return 0.0, 0
        lcs = process.cdist([seq], self._seqs, scorer=LCSseq.similarity, dtype=np.int32)[0].astype(np.float64)
        lens = self._lens[: len(self.texts)].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = lcs / lens
            r = lcs / len(seq)
            f = np.where(lcs > 0, 2 * p * r / (p + r), 0.0)  # fmeasure's float steps, vectorized
        i = int(np.argmax(f))
        return float(f[i]), i

    def dedup(self, texts: Sequence[str]) -> list[tuple[float, int] | None]:
        """Batch mode: for each text in order, its match (None = kept and added).
        Same decisions as calling match() then add() on each text."""
        self.prime(texts)
        out = []
        for text in texts:
            m = self.match(text)
            if m is None:
                self.add(text)
            out.append(m)
        return out


class RougeDedup(Filter):
    """Drops an instruction whose ROUGE-L F against a kept instruction exceeds the
    threshold (Self-Instruct: 0.7)."""

    name = "rouge"
    stateful = True

    def __init__(self, threshold: float = 0.7):
        self.index = RougeIndex(threshold)
        self.last_detail: dict = {}
        self._where: dict[str, list[int]] = {}  # kept text -> its indexes (for lineage exclusion)

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        m = self.index.match(record.instruction, lineage_ids(record, self._where))
        if m is None:
            return None
        score, idx = m
        self.last_detail = {"most_similar": self.index.texts[idx], "rouge_l": round(score, 4)}
        return "rouge_dup"

    def describe(self, record: Record) -> dict:
        """The most similar kept instruction and its ROUGE-L, for a record about to be kept."""
        if not len(self.index):
            return {}
        score, idx = self.index.most_similar(record.instruction)
        return {"most_similar": self.index.texts[idx], "rouge_l": round(score, 4)} if idx >= 0 else {}

    def add(self, record: Record) -> None:
        self._where.setdefault(record.instruction, []).append(self.index.add(record.instruction))

    def add_many(self, records: Iterable[Record]) -> None:
        for r in records:
            self.add(r)


def lineage_ids(record: Record, where: dict[str, list[int]]) -> frozenset[int]:
    """The pool indexes of a record's own lineage (`meta.lineage`: its ancestors, as
    Evol-Instruct records them). An evolution is compared with everything but them: only
    the equality check judges a step against its parent."""
    lineage = record.meta.get("lineage") if record.meta else None
    if not lineage:
        return frozenset()
    return frozenset(i for a in lineage if isinstance(a, dict) for i in where.get(a.get("instruction", ""), ()))
