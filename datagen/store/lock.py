"""One writer per dataset: an exclusive, non-blocking flock."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LockHeldError


class DatasetLock:
    """An exclusive, non-blocking flock on `<root>/<name>/.lock`, taken once per run.

    flock dies with the process, so a SIGKILLed run never leaves a stale lock behind.
    The file is never deleted: unlinking a lock file races with a waiting locker.
    Whoever runs the whole job (a `datagen run`, a pipeline through training) takes it
    once; what runs inside is handed the held lock instead of taking it again."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "DatasetLock":
        if self._fd is not None:
            raise RuntimeError(f"dataset lock '{self.name}' is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f"dataset '{self.name}' is being written by another run{holder}; "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> "DatasetLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f" (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (ValueError, KeyError, OSError):
        return ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
