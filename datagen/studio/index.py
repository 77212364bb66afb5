"""A per-version SQLite index, so no request reads a whole data.jsonl.

Versions never change, so each is indexed once, into `<store>/<name>/.studio/<version>.sqlite`
(built in a temp file and renamed into place). It holds one row per record with the
columns the table filters and sorts on, the record's byte offset in data.jsonl (a record
page seeks to it), one row per score, and an FTS5 index over all its text.

Search is English words and Chinese substrings alike: the FTS5 table uses the unicode61
tokenizer with every CJK character indexed as a token of its own, so a query becomes a
phrase of words and single characters. A run of Chinese characters matches wherever it
occurs (of any length, one character included); English matches whole words and, for the
last word, any word it begins ("river" finds "rivers"). Unigram CJK tokens cost a sixth
of what a trigram index costs to build and store.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError
from ..store import DatasetVersion
from .query import Query, match_expression, search_tokens

SCHEMA = 5
STUDIO_DIR = ".studio"
BATCH = 2000
PREVIEW = 240
WALK = 3  # a sort costs about as much per record sorted as this many steps along the score index
COLS = "r.rid, r.id, r.source, r.task_type, r.turns, r.lang, r.instruction, r.output"

_build_locks: dict[str, threading.Lock] = {}
_CACHE: dict[tuple[str, str], Any] = {}  # per index file: facets, medians, total (an index never changes)
_guard = threading.Lock()


def studio_dir(dv: DatasetVersion) -> Path:
    return dv.path.parent / STUDIO_DIR


def index_path(dv: DatasetVersion) -> Path:
    return studio_dir(dv) / f"{dv.version}.sqlite"


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def record_text(row: dict[str, Any]) -> str:
    """Everything searchable in a record: its text fields, turns and meta's string values."""
    parts = [str(row.get(k) or "") for k in ("instruction", "input", "output", "id")]
    for m in row.get("messages") or []:
        if isinstance(m, dict):
            parts.append(str(m.get("content") or ""))
    parts.extend(_strings(row.get("meta") or {}))
    return "\n".join(parts)


def content_digest(row: dict[str, Any]) -> str:
    body = json.dumps([row.get(k) for k in ("instruction", "input", "output", "messages")], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:20]


def facets(row: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The filter columns of one record: source, task type, turns, language."""
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    msgs = row.get("messages") or []
    turns = sum(1 for m in msgs if isinstance(m, dict) and m.get("role") == "user") or 1
    return {
        "source": str(meta.get("generator") or meta.get("source") or manifest.get("generator") or ""),
        "task_type": str(meta.get("task_type") or ""),
        "turns": int(meta.get("turns") or turns) if str(meta.get("turns") or turns).isdigit() else turns,
        "lang": str(meta.get("lang") or manifest.get("lang") or ""),
    }


def score_rows(rid: int, row: dict[str, Any]) -> Iterator[tuple[int, str, float]]:
    scores = (row.get("meta") or {}).get("scores") if isinstance(row.get("meta"), dict) else None
    for name, s in (scores or {}).items():
        value = s.get("value") if isinstance(s, dict) else s
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield rid, str(name), float(value)


DDL = """
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE records (rid INTEGER PRIMARY KEY, id TEXT, off INTEGER, len INTEGER, source TEXT,
  task_type TEXT, turns INTEGER, lang TEXT, digest TEXT, instruction TEXT, output TEXT);
CREATE TABLE scores (rid INTEGER, name TEXT, value REAL);
CREATE VIRTUAL TABLE fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2');
"""
POST_DDL = """
CREATE INDEX records_id ON records(id);
CREATE INDEX scores_name ON scores(name, value, rid);
CREATE INDEX scores_desc ON scores(name, value DESC, rid);
CREATE INDEX scores_rid ON scores(rid, name);
ANALYZE;
"""


def build_index(dv: DatasetVersion, path: Path) -> dict[str, Any]:
    """Index `dv` into `path` (atomically); streams data.jsonl, so memory stays flat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".idx-", suffix=".sqlite", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + DDL)
        n = blank = 0
        recs: list[tuple] = []
        scores: list[tuple] = []
        texts: list[tuple] = []
        with open(dv.data_path, "rb") as fh:
            off = 0
            for line in fh:
                size = len(line)
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as e:
                        raise DataError(dv.data_path, n + 1 + blank, f"invalid JSON: {e}") from None
                    f = facets(row, dv.manifest)
                    recs.append((n, str(row.get("id") or ""), off, size, f["source"], f["task_type"], f["turns"],
                                 f["lang"], content_digest(row), str(row.get("instruction") or "")[:PREVIEW],
                                 str(row.get("output") or "")[:PREVIEW]))
                    texts.append((n, search_tokens(record_text(row))))
                    scores.extend(score_rows(n, row))
                    n += 1
                    if len(recs) >= BATCH:
                        _flush(con, recs, scores, texts)
                else:
                    blank += 1
                off += size
        _flush(con, recs, scores, texts)
        con.executescript(POST_DDL)
        con.executemany("INSERT INTO info VALUES (?, ?)", [("schema", str(SCHEMA)), ("records", str(n)),
                                                          ("data_sha256", dv.manifest.get("data_sha256") or "")])
        con.commit()
        con.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"records": n}


def _flush(con: sqlite3.Connection, recs: list, scores: list, texts: list) -> None:
    con.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?)", recs)
    con.executemany("INSERT INTO scores VALUES (?,?,?)", scores)
    con.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", texts)
    for rows in (recs, scores, texts):
        rows.clear()


def _fresh(path: Path, dv: DatasetVersion) -> bool:
    if not path.is_file():
        return False
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            info = dict(con.execute("SELECT key, value FROM info").fetchall())
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    return info.get("schema") == str(SCHEMA) and info.get("data_sha256") == (dv.manifest.get("data_sha256") or "")


def ensure_index(dv: DatasetVersion) -> Path:
    """The version's index, built on first use (one builder per file at a time)."""
    path = index_path(dv)
    with _guard:
        lock = _build_locks.setdefault(str(path), threading.Lock())
    with lock:
        if not _fresh(path, dv):
            build_index(dv, path)
            for key in [k for k in _CACHE if k[1] == str(path)]:
                del _CACHE[key]
    return path


def medians_if_indexed(dv: DatasetVersion) -> dict[str, float] | None:
    """The version's score medians when its index is already built (the dashboard never
    builds one: `index_all` does that in the background)."""
    path = index_path(dv)
    if not _fresh(path, dv):
        return None
    with VersionIndex(dv) as ix:
        return ix.score_medians()


def index_all(store, stop: threading.Event | None = None) -> int:
    """Index every version of the store, newest first; returns how many were built. The
    studio runs it in a background thread at start, so pages and medians are ready."""
    built = 0
    for name in store.names():
        for version in reversed(store.versions(name)):
            if stop is not None and stop.is_set():
                return built
            try:
                dv = store.resolve(f"{name}@{version}")
                if not _fresh(index_path(dv), dv):
                    ensure_index(dv)
                    built += 1
            except Exception:  # an unreadable version is shown as such when visited
                continue
    return built


class VersionIndex:
    """Read access to one version's index: pages, counts, facets, single records."""

    def __init__(self, dv: DatasetVersion):
        self.dv = dv
        self.path = ensure_index(dv)
        self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self.con.row_factory = sqlite3.Row
        self._counts: dict[tuple, int] = {}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "VersionIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _where(self, q: Query, review: dict[str, str] | None) -> tuple[str, list]:
        clauses, args = [], []
        expr = match_expression(q.q) if q.q else None
        if expr:
            clauses.append("r.rid IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
            args.append(expr)
        for col in ("source", "task_type", "lang"):
            if getattr(q, col):
                clauses.append(f"r.{col} = ?")
                args.append(getattr(q, col))
        if q.turns == "multi":
            clauses.append("r.turns > 1")
        elif q.turns.isdigit():
            clauses.append("r.turns = ?")
            args.append(int(q.turns))
        if q.score and (q.min is not None or q.max is not None):
            lo = q.min if q.min is not None else float("-inf")
            hi = q.max if q.max is not None else float("inf")
            clauses.append("r.rid IN (SELECT rid FROM scores WHERE name = ? AND value BETWEEN ? AND ?)")
            args += [q.score, lo, hi]
        if q.review:
            self._load_review(review or {})
            if q.review == "unreviewed":
                clauses.append("r.id NOT IN (SELECT id FROM temp.review)")
            else:
                clauses.append("r.id IN (SELECT id FROM temp.review WHERE action = ?)")
                args.append(q.review)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def _load_review(self, review: dict[str, str]) -> None:
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS review (id TEXT PRIMARY KEY, action TEXT)")
        self.con.execute("DELETE FROM temp.review")
        self.con.executemany("INSERT OR REPLACE INTO temp.review VALUES (?, ?)", review.items())

    def count(self, q: Query, review: dict[str, str] | None = None) -> int:
        where, args = self._where(q, review)
        key = (where, tuple(args), tuple(sorted((review or {}).items())) if q.review else ())
        if key not in self._counts:  # the page view counts, then pages: one count for both
            self._counts[key] = self.con.execute(f"SELECT count(*) FROM records r{where}", args).fetchone()[0]
        return self._counts[key]

    def page(self, q: Query, review: dict[str, str] | None = None) -> list[dict[str, Any]]:
        where, args = self._where(q, review)
        offset = (q.page - 1) * q.per_page
        if q.sort:
            rows = self._sorted_page(q, review, where, args, offset)
        elif not where:
            # rids are 0..n-1 in file order: any page of the unfiltered table is one index seek
            rows = self._rows(f"SELECT {COLS} FROM records r WHERE r.rid >= ? ORDER BY r.rid LIMIT ?",
                              [offset, q.per_page])
        else:
            rows = self._rows(f"SELECT {COLS} FROM records r{where} ORDER BY r.rid LIMIT ? OFFSET ?",
                              args + [q.per_page, offset])
        if rows:
            marks = ",".join("?" * len(rows))
            by_rid = {r["rid"]: r for r in rows}
            for r in rows:
                r["scores"] = {}
            for rid, name, value in self.con.execute(
                    f"SELECT rid, name, value FROM scores WHERE rid IN ({marks})", [r["rid"] for r in rows]):
                by_rid[rid]["scores"][name] = value
        return rows

    def _rows(self, sql: str, args: list) -> list[dict[str, Any]]:
        return [dict(r) for r in self.con.execute(sql, args)]

    def _sorted_page(self, q: Query, review, where: str, args: list, offset: int) -> list[dict[str, Any]]:
        """A page sorted by the score `q.sort` (ties in file order), records without that
        score last. The whole version, or a broad selection, walks the score's index in order
        and stops after the page, testing each record against the filters: about
        (offset + page) * total / matches steps, no sort. A narrow selection, or a deep page
        of one, is sorted instead, which costs about WALK steps per match."""
        order = "DESC" if q.desc else "ASC"
        matches = self.count(q, review) if where else 0
        if where and (offset + q.per_page) * self.total() > WALK * matches * matches:
            # INDEXED BY: without statistics the planner walks every score of that name per row
            return self._rows(f"SELECT {COLS} FROM records r LEFT JOIN scores s INDEXED BY scores_rid "
                              f"ON s.rid = r.rid AND s.name = ?{where} "
                              f"ORDER BY s.value IS NULL, s.value {order}, r.rid LIMIT ? OFFSET ?",
                              [q.sort] + args + [q.per_page, offset])
        scored = (f"FROM scores s INDEXED BY {'scores_desc' if q.desc else 'scores_name'} "
                  f"CROSS JOIN records r ON r.rid = s.rid WHERE s.name = ?{where.replace(' WHERE ', ' AND ', 1)}")
        rows = self._rows(f"SELECT {COLS} {scored} ORDER BY s.value {order}, s.rid LIMIT ? OFFSET ?",
                          [q.sort] + args + [q.per_page, offset])
        if len(rows) == q.per_page:
            return rows
        # past the scored records: those without this score, in file order
        n_scored = self.con.execute(f"SELECT count(*) {scored}", [q.sort] + args).fetchone()[0]
        unscored = (" WHERE r.rid NOT IN (SELECT rid FROM scores WHERE name = ?)"
                    + where.replace(" WHERE ", " AND ", 1))
        return rows + self._rows(f"SELECT {COLS} FROM records r{unscored} ORDER BY r.rid LIMIT ? OFFSET ?",
                                 [q.sort] + args + [q.per_page - len(rows), max(0, offset - n_scored)])

    def ids(self, q: Query, review: dict[str, str] | None = None) -> list[str]:
        """Every record id the query matches (a bulk action's selection)."""
        where, args = self._where(q, review)
        return [r[0] for r in self.con.execute(f"SELECT r.id FROM records r{where} ORDER BY r.rid", args)]

    def facet_values(self) -> dict[str, list]:
        """Distinct values of the filter columns (computed once per index: versions never change)."""
        key = ("facets", str(self.path))
        if key not in _CACHE:
            _CACHE[key] = self._facet_values()
        return _CACHE[key]

    def _facet_values(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for col in ("source", "task_type", "lang", "turns"):
            out[col] = [r[0] for r in self.con.execute(
                f"SELECT DISTINCT {col} FROM records WHERE {col} != '' ORDER BY {col} LIMIT 50")]
        out["scores"] = [r[0] for r in self.con.execute("SELECT DISTINCT name FROM scores ORDER BY name")]
        return out

    def score_medians(self) -> dict[str, float]:
        key = ("medians", str(self.path))
        if key not in _CACHE:
            _CACHE[key] = self._score_medians()
        return _CACHE[key]

    def _score_medians(self) -> dict[str, float]:
        out = {}
        for name in self.facet_values()["scores"]:
            n = self.con.execute("SELECT count(*) FROM scores WHERE name = ?", (name,)).fetchone()[0]
            row = self.con.execute("SELECT value FROM scores WHERE name = ? ORDER BY value LIMIT 1 OFFSET ?",
                                   (name, max(0, (n - 1) // 2))).fetchone()
            if row:
                out[name] = row[0]
        return out

    def total(self) -> int:
        key = ("total", str(self.path))
        if key not in _CACHE:
            _CACHE[key] = self.con.execute("SELECT count(*) FROM records").fetchone()[0]
        return _CACHE[key]

    def record(self, record_id: str) -> tuple[int, dict[str, Any]] | None:
        """(position, the full record) by id, read by seeking into data.jsonl."""
        row = self.con.execute("SELECT rid, off, len FROM records WHERE id = ? ORDER BY rid LIMIT 1",
                               (record_id,)).fetchone()
        if row is None:
            return None
        with open(self.dv.data_path, "rb") as fh:
            fh.seek(row["off"])
            return row["rid"], json.loads(fh.read(row["len"]))

    def neighbours(self, rid: int) -> tuple[str | None, str | None]:
        prev = self.con.execute("SELECT id FROM records WHERE rid < ? ORDER BY rid DESC LIMIT 1", (rid,)).fetchone()
        nxt = self.con.execute("SELECT id FROM records WHERE rid > ? ORDER BY rid LIMIT 1", (rid,)).fetchone()
        return (prev[0] if prev else None), (nxt[0] if nxt else None)

    def digests(self) -> Iterator[tuple[str, str]]:
        yield from self.con.execute("SELECT id, digest FROM records ORDER BY rid")
