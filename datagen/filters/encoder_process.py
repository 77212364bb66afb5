"""A sentence encoder in its own process, so loading and running it never holds the GIL of
the process that sends requests.

Importing torch and sentence-transformers in a thread of the run's process held its GIL
for seconds (the first request waited 5 s, 25 s under load); encoding in the same process
competes with the request loop. Here the model is loaded and run by a spawned child; the
parent sends texts over a pipe and waits with the GIL released. One child per model per
run, stopped with the parent (daemon) or by `close()`.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
from typing import Sequence

import numpy as np

# the encoder yields the CPU to the process sending requests (and to a local model server):
# loading torch took a core for ~2 s right when a run's first replies came back
NICE = 10


def _serve(conn, model: str | None, batch_size: int) -> None:
    import os

    from .encoder import load_encoder

    with contextlib.suppress(OSError, AttributeError):  # not on every platform
        os.nice(NICE)

    try:
        encode = load_encoder(model, batch_size)
    except BaseException as e:  # noqa: BLE001 - sent to the parent, raised there
        conn.send(("error", e))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            conn.send(("ok", encode(msg)))
        except BaseException as e:  # noqa: BLE001
            conn.send(("error", e))


class EncoderProcess:
    """Callable texts -> normalized float32 embeddings, computed by a child process."""

    def __init__(self, model: str | None = None, batch_size: int = 64):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, model, batch_size), daemon=True,
                                 name="datagen-encoder")
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        self._ready = False

    def _reply(self):
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise RuntimeError("the embedding process stopped unexpectedly") from None
        if kind == "error":
            raise value
        return value

    def wait_ready(self) -> None:
        with self._lock:
            if not self._ready:
                self._reply()
                self._ready = True

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.wait_ready()
        with self._lock:
            self._conn.send(list(texts))
            return self._reply()

    def close(self) -> None:
        try:
            self._conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
