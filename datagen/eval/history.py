"""Eval results per dataset version, kept in the store beside the versions:
`<store>/<name>/evals/<version>.json` — a summary of the latest `datagen eval` of an
adapter trained on that version (the full report stays in the adapter folder).

Versions are immutable, so results live outside them; `datagen report` reads them back
for every trained version, and promote_if compares a new version with the last one here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..store import DatasetStore, version_number

EVALS = "evals"


def summary_path(store: DatasetStore, name: str, version: str) -> Path:
    return store.dataset_dir(name) / EVALS / f"{version}.json"


def record(store: DatasetStore, name: str, version: str, summary: dict[str, Any]) -> Path:
    from ..io import write_json

    path = summary_path(store, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, summary)


def load_history(store: DatasetStore, name: str) -> list[dict[str, Any]]:
    """Every evaluated version's summary, oldest first."""
    d = store.dataset_dir(name) / EVALS
    if not d.is_dir():
        return []
    out = []
    for p in d.glob("v*.json"):
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except json.JSONDecodeError as e:
            raise DataError(p, e.lineno, f"invalid JSON: {e.msg}") from None
    return sorted(out, key=lambda s: version_number(s["version"]))


def previous(store: DatasetStore, name: str, version: str) -> dict[str, Any] | None:
    """The summary of the newest evaluated version before `version`."""
    n = version_number(version)
    older = [s for s in load_history(store, name) if version_number(s["version"]) < n]
    return older[-1] if older else None
