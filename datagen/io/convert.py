"""Convert PDF, Word, HTML, EPUB and PowerPoint files to clean text once.

`convert_files` reads each file's bytes, and looks its SHA-256 (with the suffix and the
converter version) up in the conversion cache, `$DATAGEN_CACHE_DIR/docs/` (default
`~/.cache/datagen/docs/`): a rerun over unchanged files converts none of them again, and
a renamed or copied file is not converted twice. The misses are converted in a process
pool (one process per core, at most one per file): PDF layout analysis is CPU-bound and
pure Python. A caller that has somewhere else to run them passes `map_fn` (under
`--executor ray`: one Ray task per file, run/executor.py `RayExecutor.map`); the cache is
still read and written here, on the driver. A file that cannot be read comes back with its one-line reason (cached too:
a corrupt file stays corrupt until its bytes change).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .clean import clean_pages
from .readers import BadDocument, read_any

# bump when a reader or the cleaner changes what it produces: old cache entries are ignored
CONVERTER = "4"


@dataclass(frozen=True)
class Converted:
    text: str
    pages: tuple[int, ...] = ()  # offset where each page starts in `text`; () if not paged
    error: str = ""  # why the file could not be read ("" when it was)
    cached: bool = False
    pid: int = field(default=0, compare=False)  # the process that converted it (0: from the cache)


# how the cache misses are converted: map_fn(convert_file, paths) -> their results, in order
MapFn = Callable[[Callable, list], list]


def cache_root() -> Path:
    root = os.environ.get("DATAGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "datagen")
    return Path(root) / "docs"


def convert_file(path: str | Path) -> Converted:
    """Read and clean one file, uncached; a BadDocument becomes `error`."""
    pid = os.getpid()
    try:
        ex = read_any(path)
    except BadDocument as e:
        return Converted("", (), e.reason, pid=pid)
    text, starts = clean_pages(ex.pages, ex.paged)
    if not text.strip():
        return Converted("", (), "no text found", pid=pid)
    return Converted(text, tuple(starts), pid=pid)


def _key(data: bytes, suffix: str) -> str:
    h = hashlib.sha256(data)
    h.update(f"\0{suffix.lower()}\0{CONVERTER}".encode())
    return h.hexdigest()


def _load(path: Path) -> Converted | None:
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
        return Converted(row["text"], tuple(row["pages"]), row["error"], cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: convert again


def _store(path: Path, conv: Converted) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"text": conv.text, "pages": list(conv.pages), "error": conv.error},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs time


def convert_files(paths: list[Path], workers: int | None = None, cache: bool = True,
                  map_fn: MapFn | None = None) -> list[Converted]:
    """Converted text of each file, in order; cached conversions are not redone. The misses
    go through `map_fn` when given, else a local process pool of `workers`."""
    from ..extras import require_extra

    require_extra("docs", "reading .pdf/.docx/.html/.epub/.pptx")
    root = cache_root()
    out: list[Converted | None] = [None] * len(paths)
    todo: list[tuple[int, Path | None]] = []
    for i, p in enumerate(paths):
        try:
            key = _key(Path(p).read_bytes(), Path(p).suffix)
        except OSError as e:
            out[i] = Converted("", (), f"cannot read file: {e.strerror or e}")
            continue
        where = root / key[:2] / f"{key}.json" if cache else None
        hit = _load(where) if where else None
        if hit is not None:
            out[i] = hit
        else:
            todo.append((i, where))
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if map_fn is not None and todo:
        results = list(map_fn(convert_file, [paths[i] for i, _ in todo]))
    elif workers > 1:
        # the platform's default start method: spawn would re-run a caller's script that has
        # no `if __name__ == "__main__"` guard; documents are read before any client starts
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(convert_file, [paths[i] for i, _ in todo]))
    else:
        results = [convert_file(paths[i]) for i, _ in todo]
    for (i, where), conv in zip(todo, results):
        out[i] = conv
        if where is not None:
            _store(where, conv)
    return out  # type: ignore[return-value]
