"""What a run left in the store for dataset NAME: its newest version, or, when a cap
stopped it before anything was published, its attempt (llm/ledger.py: caps)."""

import json
from pathlib import Path

from datagen.store import DatasetStore


def run_output(store: DatasetStore, name: str) -> tuple[Path, list[dict]]:
    """(the folder, the lines of its JSONL files: records and rejects, in file order)."""
    where = store.latest(name).path if store.versions(name) else store.attempts(name)[-1]
    return where, [json.loads(x) for f in sorted(where.glob("*.jsonl")) for x in f.read_text().splitlines()]
