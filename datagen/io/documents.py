"""Read documents for Self-QA and split them into chunks. Pure: no LLM, no models.

Sources: .txt/.md files, .jsonl/.json rows with a text field, .csv/.tsv tables (each row
turned into a sentence of "column: value" pairs, since Self-QA feeds structured data to
the model as prose), PDF, Word, HTML, EPUB and PowerPoint files (converted to clean
Markdown text by convert.py, once per file), or a folder of these, read recursively.

A chunk is a span of its document: `doc.text[chunk.start:chunk.end] == chunk.text`, so
provenance offsets always point back at the exact source characters (for a table, into
its prose rendering; for a PDF, into its extracted text, with the page the chunk starts
on). Chunks break on paragraph and Markdown-heading boundaries, fall back to sentence
boundaries inside a long paragraph, and to a hard cut only for a run-on sentence;
consecutive chunks share whole trailing units up to `overlap` characters.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataError
from . import iter_json_rows, read_text
from ..text import CJK_RE
from .readers import SUFFIXES as CONVERTED_SUFFIXES

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")
ROW_SUFFIXES = (".jsonl", ".json")
TABLE_SUFFIXES = (".csv", ".tsv")
SUFFIXES = TEXT_SUFFIXES + ROW_SUFFIXES + TABLE_SUFFIXES + CONVERTED_SUFFIXES
ON_BAD_DOC = ("skip", "fail")


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the input root, plus "#line" for JSONL rows
    text: str
    path: str
    pages: tuple[int, ...] = ()  # where each page starts in `text` (paged formats), 1-based pages

    def page_at(self, offset: int) -> int | None:
        """The page (1-based) holding character `offset`, None for an unpaged document."""
        return bisect.bisect_right(self.pages, offset) if self.pages else None


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    start: int
    end: int
    text: str
    heading: str = ""  # nearest Markdown heading above the chunk, a hint for prompts
    page: int | None = None  # page the chunk starts on (paged formats)
    page_end: int | None = None  # page it ends on

    @property
    def ref(self) -> str:
        return f"{self.doc_id}@{self.start}-{self.end}"


@dataclass
class DocumentSet:
    documents: list[Document]
    skipped: dict[str, str] = field(default_factory=dict)  # file -> why it was not read


# ---- reading ----------------------------------------------------------------------------

def read_documents(path: str | Path, text_field: str = "text") -> list[Document]:
    """Every non-empty document under `path`; a file that cannot be read is an error."""
    return load_documents(path, text_field, on_bad_doc="fail").documents


def load_documents(path: str | Path, text_field: str = "text", on_bad_doc: str = "skip",
                   map_fn=None) -> DocumentSet:
    """Every non-empty document under `path` (a file or a folder, recursively), and every
    other file of the folder with the reason it was not read (an unsupported type, no
    text, a corrupt, encrypted or scanned document). `on_bad_doc="fail"` raises on the
    first file that cannot be read instead of skipping it; a file named explicitly must
    always be readable. Hidden files are left alone. Finding no text at all is an error.
    `map_fn`: where files not in the conversion cache are converted (convert.py; default:
    a local process pool)."""
    if on_bad_doc not in ON_BAD_DOC:
        raise ValueError(f"on_bad_doc must be one of {ON_BAD_DOC}")
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "not found")
    skipped: dict[str, str] = {}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        root = path
        for p in files:
            if p.suffix.lower() not in SUFFIXES:
                skipped[p.relative_to(root).as_posix()] = f"unsupported type '{p.suffix or p.name}'"
        files = [p for p in files if p.suffix.lower() in SUFFIXES]
    else:
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(path, None, f"unsupported document type '{path.suffix}' "
                                        f"(use {', '.join(SUFFIXES)})")
        files, root = [path], path.parent
        on_bad_doc = "fail"  # nothing else to read
    converted = _convert([p for p in files if p.suffix.lower() in CONVERTED_SUFFIXES], map_fn)
    docs: list[Document] = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            if f in converted:
                conv = converted[f]
                if conv.error:
                    raise DataError(f, None, conv.error)
                found = [Document(rel, conv.text, str(f), conv.pages)]
            else:
                found = [d for d in _read_file(f, rel, text_field) if d.text.strip()]
                if not found:
                    raise DataError(f, None, "no text found")
        except DataError as e:
            if on_bad_doc == "fail":
                raise
            skipped[rel] = f"line {e.line}: {e.problem}" if e.line else e.problem
            continue
        docs.extend(found)
    if not docs:
        if not files and not skipped:
            raise DataError(path, None, f"no {', '.join(SUFFIXES)} files found")
        why = f" ({len(skipped)} skipped; {next(iter(skipped.items()))[0]}: {next(iter(skipped.values()))})" \
            if skipped else ""
        raise DataError(path, None, f"no documents with text found{why}")
    return DocumentSet(docs, dict(sorted(skipped.items())))


def _convert(files: list[Path], map_fn=None) -> dict:
    if not files:
        return {}
    from .convert import convert_files

    return dict(zip(files, convert_files(files, map_fn=map_fn)))


def _read_file(path: Path, rel: str, text_field: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix in ROW_SUFFIXES:
        for line, row in iter_json_rows(path):
            text = row.get(text_field)
            if text is None:
                raise DataError(path, line, f"missing field '{text_field}'")
            if not isinstance(text, str):
                raise DataError(path, line, f"field '{text_field}' must be a string")
            doc_id = f"{rel}#{row['id']}" if isinstance(row.get("id"), (str, int)) else f"{rel}#{line}"
            yield Document(doc_id, text, str(path))
    elif suffix in TABLE_SUFFIXES:
        yield Document(rel, table_to_prose(read_text(path), path, "\t" if suffix == ".tsv" else ","), str(path))
    else:
        yield Document(rel, read_text(path), str(path))


def table_to_prose(text: str, path: str | Path = "<table>", delimiter: str = ",") -> str:
    """One paragraph per row: "col: value; col: value." (Chinese: "col：value；…。")."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(path, reader.line_num, f"malformed table: {e}") from None
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not rows:
        return ""
    _, header = rows[0]
    header = [h.strip() for h in header]
    if not all(header):
        raise DataError(path, rows[0][0], "table header has an empty column name")
    zh = bool(CJK_RE.search("".join(header)))
    sep, colon, end = ("；", "：", "。") if zh else ("; ", ": ", ".")
    paras = []
    for line, row in rows[1:]:
        if len(row) > len(header):
            raise DataError(path, line, f"row has {len(row)} cells, header has {len(header)}")
        pairs = [f"{h}{colon}{c.strip()}" for h, c in zip(header, row) if c.strip()]
        if pairs:
            paras.append(sep.join(pairs) + end)
    return "\n\n".join(paras)


# ---- chunking ---------------------------------------------------------------------------

_PARA_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]{0,3}#{1,6}[ \t])")
_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+(.+)")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)[^\n]*\n.*?^[ \t]{0,3}\1[ \t]*$", re.M | re.S)
# a sentence ends after terminal punctuation (and closing quotes), or at a line break
_SENT_END = re.compile(r"(?:[.!?;](?=\s)|[。！？；…]+[”’」』）)]*|\n)\s*")


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    heading: str = ""  # set when the unit is a Markdown heading line


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _fenced(text: str) -> Callable[[int], bool]:
    """Whether an offset lies inside a fenced code block (after its opening line)."""
    spans = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    starts = [a for a, _ in spans]

    def inside(i: int) -> bool:
        k = bisect.bisect_right(starts, i) - 1
        return k >= 0 and spans[k][0] < i < spans[k][1]
    return inside


def _paragraphs(text: str) -> Iterator[_Unit]:
    """Paragraphs and heading lines; a fenced code block is never split at its blank lines,
    and a `# comment` in it is no heading."""
    pos = 0
    inside = _fenced(text) if "```" in text or "~~~" in text else (lambda i: False)
    for m in [*(m for m in _PARA_BREAK.finditer(text) if not inside(m.start())), None]:
        stop = m.start() if m else len(text)
        s, e = _trimmed(text, pos, stop)
        if s < e and inside(s):  # the paragraph broke inside a fence only if it began in one
            yield _Unit(s, e)
        elif s < e:
            # a heading glued to its first paragraph by a single newline is its own unit
            line_end = text.find("\n", s, e)
            h = _HEADING.match(text, s, line_end if line_end != -1 else e)
            if h and line_end != -1:
                yield _Unit(s, line_end, h.group(2).strip())
                s, e = _trimmed(text, line_end, e)
                if s < e:
                    yield _Unit(s, e)
            else:
                yield _Unit(s, e, h.group(2).strip() if h else "")
        pos = m.end() if m else len(text)


def _split_long(text: str, unit: _Unit, max_chars: int) -> Iterator[_Unit]:
    """Split a unit longer than max_chars at sentence ends, then hard, into pieces that fit."""
    pieces: list[tuple[int, int]] = []
    pos = unit.start
    for m in _SENT_END.finditer(text, unit.start, unit.end):
        if m.end() > pos:
            pieces.append((pos, m.end()))
            pos = m.end()
    if pos < unit.end:
        pieces.append((pos, unit.end))
    for s, e in pieces:
        s, e = _trimmed(text, s, e)
        while e - s > max_chars:  # a run-on sentence: cut, preferring a space
            cut = text.rfind(" ", s + max_chars // 2, s + max_chars)
            cut = cut if cut > s else s + max_chars
            a, b = _trimmed(text, s, cut)
            if a < b:
                yield _Unit(a, b)
            s, e = _trimmed(text, cut, e)
        if s < e:
            yield _Unit(s, e)


def chunk_text(text: str, max_chars: int = 1000, overlap: int = 150, doc_id: str = "") -> list[Chunk]:
    """Split `text` into chunks of at most `max_chars` characters on paragraph/heading
    boundaries. Each chunk after the first repeats trailing whole units of the previous
    one, up to `overlap` characters, so a fact cut at a boundary appears whole once."""
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    if not 0 <= overlap < max_chars:
        raise ValueError("overlap must be between 0 and max_chars - 1")
    units: list[_Unit] = []
    for u in _paragraphs(text):
        units.extend([u] if u.end - u.start <= max_chars else _split_long(text, u, max_chars))

    headings: list[str] = []  # the heading in force at each unit
    for u in units:
        headings.append(u.heading or (headings[-1] if headings else ""))

    chunks: list[Chunk] = []
    k, prev_start = 0, -1  # k: first unit not yet in any chunk
    while k < len(units):
        s = k
        if chunks and not units[k].heading:  # no overlap across a section boundary
            while (s - 1 > prev_start and not units[s - 1].heading
                   and units[k - 1].end - units[s - 1].start <= overlap
                   and units[k].end - units[s - 1].start <= max_chars):
                s -= 1
        e = k + 1
        while e < len(units) and units[e].end - units[s].start <= max_chars:
            # a heading starts a new chunk once the current one has some body
            if units[e].heading and units[e - 1].end - units[s].start > max_chars // 4:
                break
            e += 1
        a, b = units[s].start, units[e - 1].end
        chunks.append(Chunk(doc_id, a, b, text[a:b], headings[s]))
        prev_start, k = s, e
    return chunks


def chunk_documents(docs: list[Document], max_chars: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Every document's chunks; a paged document's chunks say which pages they span."""
    out = []
    for d in docs:
        for c in chunk_text(d.text, max_chars, overlap, d.doc_id):
            if d.pages:
                c = dataclasses.replace(c, page=d.page_at(c.start), page_end=d.page_at(c.end - 1))
            out.append(c)
    return out


def prose_ratio(text: str) -> float:
    """Share of non-space characters that are letters, digits or CJK: low for tables of
    symbols, HTML, badges and code, which make poor reading-comprehension material."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if c.isalnum()) / len(chars)
