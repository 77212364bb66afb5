"""Decontamination: drop records that overlap a benchmark the user names.

A record is contaminated when it shares a 13-gram with a benchmark item, on normalised
tokens (NFKC, lower case, punctuation dropped): Latin words are tokens, and each CJK
character is a token, so Chinese is matched on 13-character windows. This is the
GPT-3 / Llama test-set overlap check: a reworded item is still caught while any 13-token
run of it survives. Items shorter than the window match when the record contains the
whole item (at least `MIN_SHORT` tokens, so "yes" matches nothing). A row's prompt part
(instruction + input, question, prompt) is matched on its own too, the same two ways, so a
copied short question with another answer is caught. An optional embedding check catches
paraphrases that share no window.

Benchmarks are files: JSONL/JSON rows with instruction/input/output, or a `text`,
`prompt` or `question` field; any other file is plain text, one item a line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import DataError
from ..records import Record
from ..text import CJK_CHAR
from .base import Filter

NGRAM = 13
MIN_SHORT = 6
TOKEN_RE = re.compile(f"[{CJK_CHAR}]|[^\\W_{CJK_CHAR}]+", re.U)
TEXT_FIELDS = ("text", "prompt", "question")


def tokens(text: str) -> list[str]:
    """Normalised tokens: words, and single CJK characters."""
    return TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


def ngrams(toks: Sequence[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


@dataclass
class BenchItem:
    file: str
    line: int
    text: str
    prompt: str = ""  # the row's prompt part (instruction + input, question, prompt), matched on its own


def read_benchmark(path: str | Path) -> list[BenchItem]:
    """The items of one benchmark file; DataError names the file and line of a bad row."""
    from ..io import iter_json_rows, read_text

    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "benchmark file not found")
    items: list[BenchItem] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        for line, row in iter_json_rows(path):
            parts = [row.get(k) for k in ("instruction", "input", "output") if row.get(k)]
            prompt = [row.get(k) for k in ("instruction", "input") if row.get(k)]
            if not parts:
                parts = [row.get(k) for k in TEXT_FIELDS if row.get(k)]
                prompt = [row.get(k) for k in ("prompt", "question") if row.get(k)]
            if not parts or not all(isinstance(p, str) for p in parts + prompt):
                raise DataError(path, line, "benchmark row needs instruction/input/output or a "
                                            "text, prompt or question string")
            items.append(BenchItem(str(path), line, "\n".join(parts), "\n".join(prompt)))
    else:
        for line, text in enumerate(read_text(path).splitlines(), 1):
            if text.strip():
                items.append(BenchItem(str(path), line, text.strip()))
    return items


def record_text(record: Record) -> str:
    parts = [record.instruction, record.input, record.output]
    if record.messages:
        parts += [m.get("content") or "" for m in record.messages]
    return "\n".join(p for p in parts if p)


class Decontaminate(Filter):
    """Drops a record sharing an n-gram (or, with `embed`, an embedding cosine above it)
    with an item of the benchmark files; the detail names the file, line and item."""

    name = "decontaminate"

    def __init__(self, files: Sequence[str | Path], n: int = NGRAM, embed: float | None = None,
                 encoder=None, embed_model: str | None = None):
        self.n = n
        self.items: list[BenchItem] = [it for f in files for it in read_benchmark(f)]
        self.index: dict[tuple[str, ...], int] = {}
        self.short: list[tuple[str, int]] = []  # (" ".join(tokens), item) for short items
        for i, it in enumerate(self.items):
            for text in dict.fromkeys(t for t in (it.text, it.prompt) if t):
                toks = tokens(text)
                if len(toks) >= n:
                    for g in ngrams(toks, n):
                        self.index.setdefault(g, i)
                elif len(toks) >= MIN_SHORT:
                    self.short.append((" " + " ".join(toks) + " ", i))
        self.embed = embed
        self.embed_model = embed_model
        self._encoder = encoder
        self._bench_vecs = None
        self.last_details: list[dict] = []

    def _embed_hits(self, records: Sequence[Record]) -> list[tuple[float, int] | None]:
        import numpy as np

        if self._encoder is None:
            from .encoder import load_encoder

            self._encoder = load_encoder(self.embed_model)
        if self._bench_vecs is None:
            self._bench_vecs = self._encoder([it.text for it in self.items])
        vecs = self._encoder([r.instruction for r in records])
        sims = np.asarray(vecs) @ np.asarray(self._bench_vecs).T
        out = []
        for row in sims:
            j = int(np.argmax(row))
            out.append((float(row[j]), j) if row[j] > self.embed else None)
        return out

    def _ngram_hit(self, record: Record) -> tuple[int, str] | None:
        toks = tokens(record_text(record))
        for i in range(len(toks) - self.n + 1):
            g = tuple(toks[i:i + self.n])
            j = self.index.get(g)
            if j is not None:
                return j, _join(g)
        if self.short:
            joined = " " + " ".join(toks) + " "
            for s, j in self.short:
                if s in joined:
                    return j, s.strip()
        return None

    def check_many(self, records: Sequence[Record]) -> list[str | None]:
        records = list(records)
        reasons: list[str | None] = []
        self.last_details = []
        for r in records:
            hit = self._ngram_hit(r)
            if hit is None:
                reasons.append(None)
                self.last_details.append({})
                continue
            reasons.append("contaminated")
            self.last_details.append(self._detail(hit[0], matched=hit[1]))
        if self.embed is not None and self.items:
            todo = [i for i, x in enumerate(reasons) if x is None]
            for i, hit in zip(todo, self._embed_hits([records[i] for i in todo]) if todo else []):
                if hit is not None:
                    reasons[i] = "contaminated"
                    self.last_details[i] = self._detail(hit[1], cosine=round(hit[0], 4))
        return reasons

    def check(self, record: Record) -> str | None:
        reason = self.check_many([record])[0]
        self.last_detail = self.last_details[0]
        return reason

    def _detail(self, j: int, **extra) -> dict:
        it = self.items[j]
        return {"benchmark": it.file, "benchmark_line": it.line, "benchmark_item": it.text[:300], **extra}


def _join(toks: Sequence[str]) -> str:
    # CJK characters read without spaces between them
    out = ""
    for t in toks:
        out += t if (out and len(t) == 1 and re.match(f"[{CJK_CHAR}]", t)) else (" " + t if out else t)
    return out
