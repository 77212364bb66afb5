"""The worker side of `--executor ray` (run/executor.py): one client per worker process,
a block's generator or scoring work with it, and what goes back to the driver: outcomes or
scores, the block's own ledger rows (its usage: merged into the run's one ledger, which the
driver's counts are read from), and the answers the block had to ask for (the driver
writes them into the response cache)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_CLIENTS: dict[str, tuple[Any, "WorkerCache | None"]] = {}  # one client per worker process


def _worker_client(llm_cfg):
    key = repr(llm_cfg)
    if key not in _CLIENTS:
        from ..llm import make_client

        cache = WorkerCache(llm_cfg.cache_path) if llm_cfg.cache else None
        _CLIENTS[key] = (make_client(llm_cfg, cache=cache), cache)
    return _CLIENTS[key]


def _block_ledger(client, budget=None):
    """This block's own accounts (their rows go back to the driver's), capped at `budget`."""
    if client is not None:
        client.usage.accounts = client.usage.accounts.fresh(budget)


def _ledger_rows(client) -> list[dict]:
    return client.usage.accounts.as_dict()["stages"] if client is not None else []


def run_block_task(gen, block, llm_cfg, budget=None, asked: list = ()) -> dict:
    """One block on a Ray worker: the generator's work with this process's client, under
    `budget` (the block's share of the run's cap, from the driver), knowing what the blocks
    before it asked (`asked`: object references, one set of digests per block, each put in
    the object store once by the driver). Returns the outcomes with the ledger rows and new
    cache entries of this block."""
    import ray

    client, cache = _worker_client(llm_cfg)
    _block_ledger(client, budget)
    asked_before = frozenset().union(*ray.get(list(asked))) if asked else frozenset()
    res = gen.run_block(block, client, asked_before)
    return {"outcomes": res.outcomes, "counts": res.counts, "prompt_templates": res.prompt_templates,
            "notes": res.notes, "items": len(block), "ledger": _ledger_rows(client), "stopped": res.stopped,
            "cache": cache.take_new() if cache is not None else {}}


_SCORERS: dict[str, Any] = {}  # one scorer (one loaded LM) per worker process


def score_block_task(work, block, llm_cfg) -> dict:
    """One scoring block on a Ray worker: its records' scores, with the ledger rows and new
    cache entries of the judge's requests (none for ifd/perplexity)."""
    client, cache = _worker_client(llm_cfg) if llm_cfg is not None else (None, None)
    key = repr((work.cfg, llm_cfg))
    if key not in _SCORERS:
        _SCORERS[key] = work.make_scorer(client)
    _block_ledger(client)
    scores = work.run_block(block, _SCORERS[key])
    return {"scores": scores, "items": len(block), "ledger": _ledger_rows(client), "cache": cache.take_new() if cache is not None else {}}


class WorkerCache:
    """The response cache as a worker sees it: the run's file read-only (when this node
    has it), plus the answers asked for here, held until the block returns them."""

    def __init__(self, path: str | Path | None = None):
        from ..llm.cache import default_cache_path

        self.path = Path(path) if path else default_cache_path()
        self._lock = threading.Lock()
        self._new: dict[str, str] = {}
        self._db = None
        if self.path.exists():
            try:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            except sqlite3.Error:
                self._db = None  # unreadable here: every request is asked (and cached by the driver)
        self.hits = self.misses = 0

    def _value(self, key: str) -> str | None:
        with self._lock:
            if key in self._new:
                return self._new[key]
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
            except sqlite3.Error:
                return None
        return row[0] if row else None

    def get(self, key: str):
        from ..llm.base import Completion

        raw = self._value(key)
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return [Completion(**{**c, "cached": True}) for c in json.loads(raw)]

    def put(self, key: str, completions) -> None:
        from dataclasses import asdict

        with self._lock:
            self._new[key] = json.dumps([{**asdict(c), "cached": False} for c in completions], ensure_ascii=False)

    def get_json(self, key: str):
        raw = self._value(key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, value) -> None:
        with self._lock:
            self._new[key] = json.dumps(value, ensure_ascii=False)

    def take_new(self) -> dict[str, str]:
        with self._lock:
            new, self._new = self._new, {}
        return new

    def __bool__(self) -> bool:
        return True

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


