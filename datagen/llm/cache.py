"""A sqlite response cache, so a re-run or a resumed run never pays twice for a call.

Keyed by backend + model + the request (messages and sampling params) + the endpoint:
for the openai backend the sorted set of configured base URLs, normalised, so two servers
that serve different models under one name never share answers, while replicas of one
deployment do whichever of them answered. Nothing about the endpoint's credentials
enters the key or the stored value.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError
from .base import ChatRequest, Completion


def default_cache_path() -> Path:
    root = os.environ.get("DATAGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "datagen"
    )
    return Path(root) / "responses.sqlite"


def normalise_url(url: str) -> str:
    """scheme://host[:port]/path, lower-case scheme and host, default port and trailing
    slash dropped: one server written two ways is one endpoint."""
    from urllib.parse import urlsplit

    p = urlsplit(url.strip())
    scheme = p.scheme.lower()
    host = (p.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    port = p.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{p.path.rstrip('/')}"


def endpoint_key(base_urls) -> str:
    """The cache's name for a set of replicas: their sorted, normalised URLs."""
    return " ".join(sorted({normalise_url(u) for u in base_urls}))


def request_key(backend: str, model: str, req: ChatRequest, kind: str = "chat", endpoint: str | None = None) -> str:
    key = {"kind": kind, "backend": backend, "model": model, "request": req.key_fields()}
    if endpoint:  # absent for the local backend, whose keys stay as they were
        key["endpoint"] = endpoint
    body = json.dumps(key, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
                " created REAL DEFAULT (julianday('now')))"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(
                f"response cache {self.path}: {e} (pass --cache-path elsewhere, or --no-cache)"
            ) from None
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> list[Completion] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return [Completion(**{**c, "cached": True}) for c in json.loads(row[0])]

    def put(self, key: str, completions: list[Completion]) -> None:
        value = json.dumps([{**asdict(c), "cached": False} for c in completions], ensure_ascii=False)
        with self._lock:
            # committed per call: a killed run keeps every answer it already paid for
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, value))
            self._db.commit()

    def get_json(self, key: str):
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_json(self, key: str, value) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                (key, json.dumps(value, ensure_ascii=False)),
            )
            self._db.commit()

    def __bool__(self) -> bool:
        # callers test `if self.cache:` for "is caching on"; __len__ alone made an
        # empty cache falsy, so nothing was ever stored
        return True

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
