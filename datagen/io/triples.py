"""Knowledge-graph triples: read them from JSONL/JSON, CSV/TSV or HuaTuo entity records.

Inputs (a file, or a folder of them):
- JSONL / JSON array of `{"head", "relation", "tail"}` (tail may be a list of tails);
- CSV / TSV with head, relation, tail columns (subject/predicate/object also accepted);
- HuaTuo-style entity records: `{"中心词": "偏头痛", "相关症状": ["头痛", "恶心"], ...}`,
  where every key other than the centre word is a relation to its value(s).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError
from . import iter_json_rows, read_text

FIELDS = ("head", "relation", "tail")
ALIASES = {"subject": "head", "predicate": "relation", "object": "tail"}
ENTITY_KEYS = ("中心词", "entity", "name")  # the head of an entity record
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


@dataclass(frozen=True)
class Triple:
    head: str
    relation: str
    tail: str
    source: str = ""  # "path:line", for error messages and provenance

    def as_dict(self) -> dict[str, str]:
        return {"head": self.head, "relation": self.relation, "tail": self.tail}


# ---- reading ----------------------------------------------------------------------------

def read_triples(path: str | Path) -> list[Triple]:
    """All triples in `path` (file or folder), exact repeats removed, order kept."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "not found")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                       and not any(x.startswith(".") for x in p.relative_to(path).parts))
    elif path.suffix.lower() not in SUFFIXES:
        raise DataError(path, None, f"unsupported triples file '{path.suffix}' (use {', '.join(SUFFIXES)})")
    else:
        files = [path]
    seen: set[tuple[str, str, str]] = set()
    out: list[Triple] = []
    for f in files:
        rows = _table_triples(f) if f.suffix.lower() in (".csv", ".tsv") else _json_triples(f)
        for t in rows:
            key = (t.head, t.relation, t.tail)
            if key not in seen:
                seen.add(key)
                out.append(t)
    if not out:
        raise DataError(path, None, "no triples found (empty file?)")
    return out


def _clean(path, line, value: Any, name: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise DataError(path, line, f"field '{name}' must be a string, got {type(value).__name__}")
    text = " ".join(str(value).split())
    if not text:
        raise DataError(path, line, f"empty '{name}'")
    return text


def _tails(path, line, value: Any, name: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [_clean(path, line, v, name) for v in values if not (isinstance(v, str) and not v.strip())]


def _json_triples(path: Path) -> Iterator[Triple]:
    for line, row in iter_json_rows(path):
        where = f"{path}:{line}"
        row = {ALIASES.get(k, k): v for k, v in row.items()}
        if any(k in row for k in FIELDS):
            for k in FIELDS:
                if row.get(k) is None:
                    raise DataError(path, line, f"missing field '{k}'")
            head = _clean(path, line, row["head"], "head")
            rel = _clean(path, line, row["relation"], "relation")
            tails = _tails(path, line, row["tail"], "tail")
            if not tails:
                raise DataError(path, line, "empty 'tail'")
            yield from (Triple(head, rel, t, where) for t in tails)
            continue
        key = next((k for k in ENTITY_KEYS if k in row), None)
        if key is None:
            raise DataError(path, line, "expected {head, relation, tail} or an entity record with '中心词'")
        head = _clean(path, line, row[key], key)
        for rel, value in row.items():
            if rel == key or value is None:
                continue
            for t in _tails(path, line, value, rel):
                yield Triple(head, _clean(path, line, rel, "relation"), t, where)


def _table_triples(path: Path) -> Iterator[Triple]:
    text = read_text(path)
    reader = csv.reader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(path, reader.line_num, f"malformed table: {e}") from None
    if not rows:
        return
    header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in rows[0]]
    for k in FIELDS:
        if k not in header:
            raise DataError(path, 1, f"missing column '{k}' (header: {', '.join(rows[0])})")
    idx = {k: header.index(k) for k in FIELDS}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cells = {}
        for k, i in idx.items():
            if i >= len(row):
                raise DataError(path, line, f"missing field '{k}'")
            cells[k] = _clean(path, line, row[i], k)
        yield Triple(cells["head"], cells["relation"], cells["tail"], f"{path}:{line}")
