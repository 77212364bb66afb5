"""What a report reads: a dataset version (records, manifest, rejects, its lineage) or a
plain JSONL file.

The store is read only through datagen.store.DatasetStore, so the report follows its layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import iter_json_rows, read_records
from ..records import Record


@dataclass
class ReportInput:
    """One dataset to describe. `lineage` is the manifests of this version and its
    ancestors, newest first: the runs that built the data."""

    label: str
    records: list[Record]
    manifest: dict[str, Any] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    path: str = ""
    evals: list[dict[str, Any]] = field(default_factory=list)  # `datagen eval` summaries, every version


def _read_rejects(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [row for _, row in iter_json_rows(path)]


def load_version(ref: str, store: str | Path | None = None) -> ReportInput:
    """Read NAME[@vN] from the store with its manifest, rejects and ancestors' manifests."""
    from ..store import DatasetStore

    ds = DatasetStore(store)
    dv = ds.resolve(ref)
    lineage = [dv.manifest]
    parent, seen = dv.manifest.get("parent"), {dv.version}
    while parent and parent not in seen and parent in ds.versions(dv.name):
        seen.add(parent)
        m = ds.resolve(f"{dv.name}@{parent}").manifest
        lineage.append(m)
        parent = m.get("parent")
    from ..eval.history import load_history

    return ReportInput(
        label=dv.ref,
        records=dv.records(),
        manifest=dv.manifest,
        rejects=dv.rejects(),
        lineage=lineage,
        path=str(dv.path),
        evals=load_history(ds, dv.name),
    )


def load_jsonl(path: str | Path) -> ReportInput:
    """A plain JSONL/JSON file (Alpaca, messages or Self-Instruct rows); rejects beside
    it as `<stem>.rejects.jsonl` are picked up when present, like `datagen run --out`."""
    path = Path(path)
    records = read_records(path)
    rej = path.with_name(path.stem + ".rejects.jsonl")
    return ReportInput(label=path.name, records=records, rejects=_read_rejects(rej), path=str(path))


def split_seeds(records: list[Record], seeds_path: str | Path | None = None) -> tuple[list[str], list[Record]]:
    """(seed instructions, generated records). Seeds come from `seeds_path` when given,
    else from records marked meta.source == "seed"."""
    if seeds_path:
        seeds = [r.instruction for r in read_records(seeds_path)]
        seed_set = set(seeds)
        # the file decides what a seed is: a reader may tag every Self-Instruct-format row
        # source=seed, so meta is not trusted here
        generated = [r for r in records if r.instruction not in seed_set]
    else:
        seeds = [r.instruction for r in records if r.meta.get("source") == "seed"]
        generated = [r for r in records if r.meta.get("source") != "seed"]
    return list(dict.fromkeys(seeds)), generated
