"""Embedding near-duplicate detection: cosine similarity of sentence embeddings.

ROUGE-L catches rewordings that keep the words; embeddings catch paraphrases that do not.
The default model is the embedded all-MiniLM-L6-v2 (from a pip package, no download);
`embed_model` names another local sentence-transformers folder (e.g. a multilingual one,
since MiniLM is English-only). Embeddings are L2-normalized, so cosine = dot product, and
kept vectors live in a growing float32 matrix searched exactly with one matrix-vector
product: ~40 MB and a few ms per query at 100k texts.
"""

from __future__ import annotations

import os
import threading
from typing import Iterable

import numpy as np

from ..records import Record

from .encoder import Encoder, check_model_path, encoder_threads, load_encoder  # noqa: F401 (re-exported)


class EmbeddingIndex:
    """Normalized vectors of kept texts; `match(vec)` finds the nearest above threshold."""

    def __init__(self, threshold: float = 0.95):
        self.threshold = threshold
        self._mat: np.ndarray | None = None
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vecs: np.ndarray) -> None:
        vecs = np.atleast_2d(np.asarray(vecs, dtype=np.float32))
        if self._mat is None:
            self._mat = np.empty((max(1024, len(vecs)), vecs.shape[1]), dtype=np.float32)
        need = self._n + len(vecs)
        if need > len(self._mat):
            # grow geometrically so adding one at a time stays amortized O(1)
            grown = np.empty((max(need, 2 * len(self._mat)), self._mat.shape[1]), dtype=np.float32)
            grown[: self._n] = self._mat[: self._n]
            self._mat = grown
        self._mat[self._n: need] = vecs
        self._n = need

    def nearest(self, vec: np.ndarray) -> tuple[float, int]:
        """(cosine, index) of the nearest kept vector; (-1.0, -1) when empty."""
        if not self._n:
            return -1.0, -1
        sims = self._mat[: self._n] @ np.asarray(vec, dtype=np.float32).reshape(-1)
        i = int(np.argmax(sims))
        return float(sims[i]), i

    def match(self, vec: np.ndarray) -> tuple[float, int] | None:
        score, i = self.nearest(vec)
        return (score, i) if i >= 0 and score > self.threshold else None


class EmbeddingDedup:
    """Drops an instruction whose embedding cosine with a kept one exceeds the threshold.

    Encodes lazily and in batches: `prepare(records)` encodes a batch of candidates in one
    call (the chain's check_many hands it a round at once), and pools given to `add_many`
    are encoded on first use, so a run's first requests go out while `warm_up()` loads
    the model in a background thread."""

    name = "embedding"
    deferred = True  # pipelined rounds check it when a round finishes, off the request path

    def __init__(self, threshold: float = 0.95, model: str | None = None,
                 encoder: Encoder | None = None):
        self.index = EmbeddingIndex(threshold)
        self.model = model
        self._encoder = encoder
        self.texts: list[str] = []
        self._cache: dict[str, np.ndarray] = {}
        self._pool: list[str] = []  # added with add_many, not yet encoded
        self._loading: threading.Thread | None = None
        self._load_error: BaseException | None = None
        self.last_detail: dict = {}

    def warm_up(self) -> None:
        """Start loading the model now, in the background (the first encode waits for it):
        in a child process (encoder_process.py), so the import never holds this process's
        GIL; in a thread with DATAGEN_EMBED_INPROCESS=1."""
        if self._encoder is not None or self._loading is not None:
            return
        if os.environ.get("DATAGEN_EMBED_INPROCESS") != "1":
            from .encoder_process import EncoderProcess

            check_model_path(self.model)  # a bad folder fails now, in this process
            self._encoder = EncoderProcess(self.model)
            return

        def load():
            try:
                self._encoder = load_encoder(self.model)
            except BaseException as e:  # noqa: BLE001 - re-raised where the encoder is used
                self._load_error = e

        self._loading = threading.Thread(target=load, name="datagen-embed-load", daemon=True)
        self._loading.start()

    @property
    def encoder(self) -> Encoder:
        if self._loading is not None:
            self._loading.join()
            self._loading = None
            if self._load_error is not None:
                err, self._load_error = self._load_error, None
                raise err
        if self._encoder is None:
            self._encoder = load_encoder(self.model)
        return self._encoder

    def _flush_pool(self) -> None:
        if self._pool:
            texts, self._pool = self._pool, []
            self._add_texts(texts)

    def prepare(self, records: Iterable[Record | str]) -> None:
        """Encode upcoming candidates in one batch (optional; check() encodes if needed)."""
        self._flush_pool()
        texts = [r.instruction if isinstance(r, Record) else r for r in records]
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if len(self._cache) > 20000:
            self._cache.clear()  # candidates other filters dropped before check() saw them
        if todo:
            self._cache.update(zip(todo, self.encoder(todo)))

    def _vec(self, text: str) -> np.ndarray:
        v = self._cache.get(text)
        if v is None:
            v = self._cache[text] = self.encoder([text])[0]
        return v

    def check(self, record: Record) -> str | None:
        self._flush_pool()
        self.last_detail = {}
        m = self.index.match(self._vec(record.instruction))
        if m is None:
            return None
        self._cache.pop(record.instruction, None)
        score, i = m
        self.last_detail = {"nearest": self.texts[i], "cosine": round(score, 4)}
        return "embed_dup"

    def add(self, record: Record) -> None:
        self._flush_pool()
        text = record.instruction
        self.index.add(self._vec(text))
        self._cache.pop(text, None)
        self.texts.append(text)

    def add_many(self, records: Iterable[Record]) -> None:
        """Pool records; they are encoded (in one call) when the filter is next used."""
        self._pool.extend(r.instruction for r in records)

    def _add_texts(self, texts: list[str]) -> None:
        if not texts:
            return
        known = [t for t in texts if t in self._cache]
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        vecs = dict(zip(todo, self.encoder(todo))) if todo else {}
        vecs.update((t, self._cache.pop(t)) for t in known if t in self._cache)
        self.index.add(np.stack([vecs[t] for t in texts]))
        self.texts.extend(texts)
