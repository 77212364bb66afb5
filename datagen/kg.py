"""Knowledge-graph triples for Self-KG: read, group by head entity, template, verify. Pure.

Inputs (a file, or a folder of them):
- JSONL / JSON array of `{"head", "relation", "tail"}` (tail may be a list of tails);
- CSV / TSV with head, relation, tail columns (subject/predicate/object also accepted);
- HuaTuo-style entity records: `{"中心词": "偏头痛", "相关症状": ["头痛", "恶心"], ...}`,
  where every key other than the centre word is a relation to its value(s).
"""

from __future__ import annotations

import csv
import io
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import DataError
from .io import iter_json_rows, read_text
from .text import CJK_RE

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


@dataclass
class FactGroup:
    head: str
    triples: list[Triple]

    @property
    def tails(self) -> list[str]:
        return [t.tail for t in self.triples]


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


# ---- grouping ---------------------------------------------------------------------------

def group_by_head(triples: Sequence[Triple], max_facts: int = 3, seed: int = 0,
                  by_relation: bool = False, max_tails: int = 8) -> list[FactGroup]:
    """Facts grouped by head entity: each group holds 1..max_facts relations of one head
    (sizes drawn with `seed`), each relation with all its tails, so a list ("symptoms",
    "moons") is asked about whole, never split over two near-identical questions. Lists
    longer than `max_tails` are cut, since an answer must name every tail. With
    `by_relation`, one group per (head, relation) — what the template mode asks about."""
    if max_facts < 1 or max_tails < 1:
        raise ValueError("max_facts and max_tails must be at least 1")
    by_head: dict[str, dict[str, list[Triple]]] = {}
    for t in triples:
        by_head.setdefault(t.head, {}).setdefault(t.relation, []).append(t)
    rng = random.Random(seed)
    groups: list[FactGroup] = []
    for head, rels in by_head.items():
        blocks = [ts[i:i + max_tails] for ts in rels.values() for i in range(0, len(ts), max_tails)]
        if by_relation:
            groups.extend(FactGroup(head, b) for b in blocks)
            continue
        i = 0
        while i < len(blocks):
            n = rng.randint(1, max_facts)
            groups.append(FactGroup(head, [t for b in blocks[i:i + n] for t in b]))
            i += n
    return groups


# ---- rendering --------------------------------------------------------------------------

def join_items(items: Sequence[str], lang: str) -> str:
    """"a, b and c" / "a、b和c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if lang == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def relation_words(relation: str) -> str:
    """'place_of_birth' / 'placeOfBirth' -> 'place of birth'."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", relation).replace("_", " ").replace("-", " ")
    return " ".join(text.split()).lower() if not CJK_RE.search(text) else text


def format_facts(group: FactGroup) -> str:
    """The facts as the prompt lists them: one "head | relation | tail" a line."""
    return "\n".join(f"- {t.head} | {relation_words(t.relation)} | {t.tail}" for t in group.triples)


def parse_templates(text: str) -> dict[str, tuple[str, str]]:
    """Relation templates, one a line: `relation | question | answer` with {head},
    {relation}, {tails} and {be} placeholders; `*` is the fallback; '#' starts a comment."""
    out: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not all(parts):
            raise DataError("templates", n, "expected 'relation | question | answer'")
        out[relation_words(parts[0]) if parts[0] != "*" else "*"] = (parts[1], parts[2])
    if "*" not in out:
        raise DataError("templates", None, "no fallback template ('* | question | answer')")
    return out


def template_qa(group: FactGroup, templates: dict[str, tuple[str, str]], lang: str) -> tuple[str, str]:
    """Question and answer for a one-relation group from the relation's template."""
    rel = relation_words(group.triples[0].relation)
    q, a = templates.get(rel) or templates["*"]
    fields = {"head": group.head, "relation": rel, "tails": join_items(group.tails, lang),
              "be": "are" if len(group.tails) > 1 else "is"}
    return q.format(**fields), a.format(**fields)


# ---- parsing and verification -----------------------------------------------------------

_Q = r"(?:question|q|问题|问)"
_A = r"(?:answer|a|回答|答案|答)"
_QA_RE = re.compile(rf"^\W*{_Q}\s*[:：]\s*(?P<q>.+?)\s*^\W*{_A}\s*[:：]\s*(?P<a>.+)$",
                    re.I | re.S | re.M)


def parse_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) from "Question: …\\nAnswer: …" (or 问题：/回答：); None when absent."""
    m = _QA_RE.search(text.strip())
    if not m:
        return None
    q = m.group("q").strip().strip("*").strip()
    # a model that goes on to write a second pair: keep the first answer only
    a = re.split(rf"\n\s*\W*{_Q}\s*[:：]", m.group("a"), maxsplit=1, flags=re.I)[0].strip().strip("*").strip()
    return (q, a) if q and a else None


def normalize(text: str) -> str:
    """Casefolded NFKC with punctuation and spacing removed, for mention checks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


def missing_tails(answer: str, tails: Iterable[str], fuzzy: int = 90) -> list[str]:
    """Tails the answer does not mention. A mention is a normalized substring, or (for
    tails of 6+ characters, when `fuzzy` < 100) a rapidfuzz partial_ratio >= fuzzy, which
    forgives a plural or a changed hyphen."""
    norm_answer = normalize(answer)
    missing = []
    for tail in tails:
        t = normalize(tail)
        if not t or t in norm_answer:
            continue
        if fuzzy < 100 and len(t) >= 6:
            from rapidfuzz import fuzz

            if fuzz.partial_ratio(t, norm_answer) >= fuzzy:
                continue
        missing.append(tail)
    return missing
