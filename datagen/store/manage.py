"""Store verbs beyond publishing: import a file as a version, look at records, tag and
untag, remove a version.

Removal is all or nothing: under the dataset lock the version folder is renamed to a
hidden temp name (the moment it disappears for readers), tags that pointed at it are
rewritten atomically, the version number is noted as used, and only then is the folder
deleted; a kill in between leaves a temp folder the next writer cleans, never half a
version.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import Record
from .tags import is_tag, read_tags
from .versions import REMOVED, TMP_PREFIX, DatasetStore, DatasetVersion, file_sha256


def import_file(store: DatasetStore, path: str | Path, name: str, fmt: str = "auto") -> DatasetVersion:
    """Publish the records of `path` (any format the seed readers take: Alpaca JSON/JSONL,
    Self-Instruct tasks, OpenAI messages, ShareGPT, .txt) as the next version of `name`."""
    from ..io import read_records
    from ..text import detect_lang

    records = read_records(path, fmt)
    lang = detect_lang([r.instruction for r in records[:1000]])
    manifest: dict[str, Any] = {
        "stage": "import", "generator": "import", "lang": lang,
        "source": {"path": str(path), "sha256": file_sha256(path), "format": fmt},
        "inputs": {str(path): file_sha256(path)},
        "funnel": {"candidates": len(records), "kept": len(records), "dropped": {}},
    }
    with store.lock(name):
        store.clean_temp(name)
        parent = store.latest(name)
        return store.publish(name, records, [], manifest, parent=parent.version if parent else None)


# ---- looking at records -------------------------------------------------------------------

def shown(text: str, width: int = 300) -> str:
    """Record text for a terminal: control characters (an ANSI escape in a generated
    answer) shown as \\xNN, newlines as ⏎, cut at `width` characters."""
    out = []
    for c in text:
        if c == "\n":
            out.append(" ⏎ ")
        elif c == "\t":
            out.append(" ")
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    s = "".join(out)
    return s if len(s) <= width else s[: width - 1] + "…"


def pick(records: list[Record], n: int, sample: bool = False, seed: int = 0) -> list[tuple[int, Record]]:
    """(1-based position, record): the first `n`, or `n` at random (seeded) in file order."""
    idx = list(range(len(records)))
    if sample:
        idx = sorted(random.Random(seed).sample(idx, min(n, len(idx))))
    return [(i + 1, records[i]) for i in idx[:n]]


def format_records(dv: DatasetVersion, picked: list[tuple[int, Record]], total: int, width: int = 300) -> str:
    lines = [f"{dv.ref}: {len(picked)} of {total} records"]
    for pos, r in picked:
        lines.append(f"#{pos}")
        if r.messages and r.is_multi_turn:
            for m in r.messages:
                lines.append(f"  {shown(str(m.get('role', '?')), 20)}: {shown(m.get('content') or '', width)}")
            continue
        lines.append(f"  instruction: {shown(r.instruction, width)}")
        if r.input:
            lines.append(f"  input: {shown(r.input, width)}")
        lines.append(f"  output: {shown(r.output, width)}")
    return "\n".join(lines)


def records_json(picked: list[tuple[int, Record]]) -> str:
    return "\n".join(json.dumps(r.to_dict(), ensure_ascii=True) for _, r in picked)


# ---- tags ------------------------------------------------------------------------------

def tag(store: DatasetStore, ref: str, tag_name: str) -> DatasetVersion:
    """Point `tag_name` at the version `ref` names (moving it if it pointed elsewhere)."""
    dv = store.resolve(ref)
    if not is_tag(tag_name):
        raise ConfigError(f"bad tag name {tag_name!r}: a letter then letters, digits, '_' or '-' (not vN, not latest)")
    with store.lock(dv.name):
        store.set_tag(dv.name, tag_name, dv.version)
    return dv


def untag(store: DatasetStore, name: str, tag_name: str) -> str:
    """Remove tag `tag_name` of dataset `name`; returns the version it pointed at."""
    from ..io import write_json

    dname = name.partition("@")[0]
    d = store.dataset_dir(dname)
    with store.lock(dname):
        tags = read_tags(d)
        if tag_name not in tags:
            raise ConfigError(f"dataset '{dname}' has no tag '{tag_name}' (tags: {', '.join(sorted(tags)) or 'none'})")
        version = tags.pop(tag_name)
        write_json(d / "tags.json", tags)
    return version


# ---- removal ------------------------------------------------------------------------------

def dependents(store: DatasetStore, dv: DatasetVersion) -> list[str]:
    """What needs `dv`: tags pointing at it, and later versions naming it as their parent
    (or as the version they scored or selected from)."""
    needs = [f"tag {t}" for t, v in sorted(store.tags(dv.name).items()) if v == dv.version]
    for v in store.versions(dv.name):
        if v == dv.version:
            continue
        m = store._load(dv.name, v).manifest
        parents = {m.get("parent"), *(str(m.get(k, {}).get("parent", "")).rpartition("@")[2]
                                     for k in ("score", "selection") if isinstance(m.get(k), dict))}
        if dv.version in parents:
            needs.append(f"{dv.name}@{v} (its parent)")
    return needs


def removed_versions(store: DatasetStore, name: str) -> list[str]:
    path = store.dataset_dir(name) / REMOVED
    try:
        return list(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return []


def remove(store: DatasetStore, ref: str, force: bool = False) -> tuple[DatasetVersion, list[str]]:
    """Remove the version `ref` names, whole or not at all. Refused (ConfigError) while a
    tag or a later version's lineage needs it, unless `force` (its tags are then removed
    too). Returns the removed version and what needed it."""
    from ..io import write_json

    dv = store.resolve(ref)
    with store.lock(dv.name):
        store.clean_temp(dv.name)
        needs = dependents(store, dv)
        if needs and not force:
            raise ConfigError(f"{dv.ref} is needed by {', '.join(needs)}; --force removes it anyway")
        d = store.dataset_dir(dv.name)
        write_json(d / REMOVED, sorted(set(removed_versions(store, dv.name)) | {dv.version}))
        hidden = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}rm-", dir=d))
        os.rename(dv.path, hidden / dv.version)  # gone for readers from here on
        tags = read_tags(d)
        if any(v == dv.version for v in tags.values()):
            write_json(d / "tags.json", {t: v for t, v in tags.items() if v != dv.version})
        shutil.rmtree(hidden)
    return dv, needs
