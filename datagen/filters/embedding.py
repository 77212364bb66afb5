"""Embedding near-duplicate detection: cosine similarity of sentence embeddings.

ROUGE-L catches rewordings that keep the words; embeddings catch paraphrases that do not.
The default model is the embedded all-MiniLM-L6-v2 (from a pip package, no download);
`embed_model` names another local sentence-transformers folder (e.g. a multilingual one,
since MiniLM is English-only). Embeddings are L2-normalized, so cosine = dot product, and
kept vectors live in a growing float32 matrix searched exactly with one matrix-vector
product (its memory and time per query at 100k texts: docs/benchmarks.md). Past
`faiss_above` vectors (100k) a faiss IVF index takes over (the faiss extra; see
docs/scale.md for its measured recall).
"""

from __future__ import annotations

import os
import threading
from typing import Iterable

import numpy as np

from ..records import Record
from .rouge import lineage_ids

from .base import Filter
from .encoder import Encoder, check_model_path, encoder_threads, load_encoder  # noqa: F401 (re-exported)


class EmbeddingIndex:
    """Normalized vectors of kept texts; `match(vec)` finds the nearest above threshold.

    Exact (one matrix-vector product) up to `faiss_above` vectors; past that a faiss IVF
    index (inner product, so cosine on these vectors; 4*sqrt(n) lists trained on the
    vectors kept so far, NPROBE of them searched per query) replaces the matrix. IVF, not
    HNSW: an HNSW graph takes far longer to build on a few CPU cores (bench/bench_scale.py,
    docs/benchmarks.md). The scores returned are exact for the vectors found, so a
    match still means cosine > threshold; what IVF can do is miss a neighbour in a list it
    did not probe. One query in `SHADOW_EVERY` is also searched over every list (exact),
    and `recall` says how often the probed lists held a match the exact search found.
    Without faiss installed the search stays exact (a warning says so once)."""

    SHADOW_EVERY = 100
    NPROBE = 16

    def __init__(self, threshold: float = 0.95, faiss_above: int | None = 100_000):
        self.threshold = threshold
        self.faiss_above = faiss_above
        self._mat: np.ndarray | None = None
        self._n = 0
        self._ivf = None  # faiss.IndexIVFFlat once past faiss_above
        self._queries = 0
        self.shadow = {"queries": 0, "exact_matches": 0, "found": 0}

    def __len__(self) -> int:
        return self._n

    @property
    def kind(self) -> str:
        return "ivf" if self._ivf is not None else "exact"

    @property
    def recall(self) -> float | None:
        """Share of the sampled queries' exact matches the IVF search also found."""
        s = self.shadow
        return round(s["found"] / s["exact_matches"], 4) if s["exact_matches"] else None

    def add(self, vecs: np.ndarray) -> None:
        vecs = np.ascontiguousarray(np.atleast_2d(np.asarray(vecs, dtype=np.float32)))
        if self._ivf is not None:
            self._ivf.add(vecs)
            self._n += len(vecs)
            return
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
        if self.faiss_above is not None and self._n > self.faiss_above:
            self._to_ivf()

    def _to_ivf(self) -> None:
        try:
            import faiss
        except ImportError:
            import logging

            logging.getLogger(__name__).warning(
                "embedding dedup: %d vectors, searched exactly (pip install 'datagen[faiss]' for an IVF index)",
                self._n)
            self.faiss_above = None
            return
        vecs = self._mat[: self._n]
        nlist = max(1, int(4 * np.sqrt(self._n)))
        sample = np.random.default_rng(0).permutation(self._n)[: 40 * nlist]  # faiss wants >= 39 per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vecs.shape[1]), vecs.shape[1], nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(vecs[np.sort(sample)]))
        index.add(np.ascontiguousarray(vecs))
        index.nprobe = min(self.NPROBE, nlist)
        self._ivf = index
        self._mat = None  # the inverted lists hold the vectors now

    def _exact(self, vec: np.ndarray) -> tuple[float, int]:
        if self._ivf is not None:  # every list probed: exhaustive, so exact
            nprobe, self._ivf.nprobe = self._ivf.nprobe, self._ivf.nlist
            try:
                d, i = self._ivf.search(vec.reshape(1, -1), 1)
            finally:
                self._ivf.nprobe = nprobe
            return float(d[0, 0]), int(i[0, 0])
        sims = self._mat[: self._n] @ vec
        i = int(np.argmax(sims))
        return float(sims[i]), i

    def nearest(self, vec: np.ndarray, exact: bool = False) -> tuple[float, int]:
        """(cosine, index) of the nearest kept vector; (-1.0, -1) when empty. From the
        IVF index past faiss_above, unless `exact`."""
        if not self._n:
            return -1.0, -1
        vec = np.ascontiguousarray(np.asarray(vec, dtype=np.float32).reshape(-1))
        if self._ivf is None or exact:
            return self._exact(vec)
        d, i = self._ivf.search(vec.reshape(1, -1), 1)
        found = (float(d[0, 0]), int(i[0, 0])) if i[0, 0] >= 0 else (-1.0, -1)
        self._queries += 1
        if self._queries % self.SHADOW_EVERY == 0:
            self._shadow(found, self._exact(vec))
        return found

    def _shadow(self, found: tuple[float, int], exact: tuple[float, int]) -> None:
        s = self.shadow
        s["queries"] += 1
        if exact[0] > self.threshold:
            s["exact_matches"] += 1
            s["found"] += found[0] > self.threshold

    def match(self, vec: np.ndarray, exclude: frozenset[int] = frozenset()) -> tuple[float, int] | None:
        score, i = self.nearest(vec) if not exclude else self._nearest_except(vec, exclude)
        return (score, i) if i >= 0 and score > self.threshold else None

    def _nearest_except(self, vec: np.ndarray, exclude: frozenset[int]) -> tuple[float, int]:
        """The nearest kept vector whose index is not in `exclude` (a record's lineage)."""
        vec = np.ascontiguousarray(np.asarray(vec, dtype=np.float32).reshape(-1))
        if self._ivf is not None:
            d, ids = self._ivf.search(vec.reshape(1, -1), len(exclude) + 1)
            for score, i in zip(d[0].tolist(), ids[0].tolist()):
                if i >= 0 and i not in exclude:
                    return float(score), int(i)
            return -1.0, -1
        if not self._n:
            return -1.0, -1
        sims = self._mat[: self._n] @ vec
        sims[[i for i in exclude if i < self._n]] = -np.inf
        i = int(np.argmax(sims))
        return (float(sims[i]), i) if np.isfinite(sims[i]) else (-1.0, -1)


class EmbeddingDedup(Filter):
    """Drops an instruction whose embedding cosine with a kept one exceeds the threshold.

    Encodes lazily and in batches: `prepare(records)` encodes a batch of candidates in one
    call (the chain's check_many hands it a round at once), and pools given to `add_many`
    are encoded on first use, so a run's first requests go out while `warm_up()` loads
    the model in a background thread."""

    name = "embedding"
    stateful = True
    deferred = True  # pipelined rounds check it when a round finishes, off the request path

    def __init__(self, threshold: float = 0.95, model: str | None = None,
                 encoder: Encoder | None = None, faiss_above: int | None = 100_000):
        self.index = EmbeddingIndex(threshold, faiss_above)
        self.model = model
        self._encoder = encoder
        self.texts: list[str] = []
        self._cache: dict[str, np.ndarray] = {}
        self._pool: list[str] = []  # added with add_many, not yet encoded
        self._loading: threading.Thread | None = None
        self._load_error: BaseException | None = None
        self.last_detail: dict = {}
        self._where_map: dict[str, list[int]] = {}  # kept text -> its indexes (lineage exclusion)
        self._where_n = 0

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
        if len(self._cache) > 20000:
            self._cache.clear()  # candidates other filters dropped before check() saw them
        self.prefetch(records)

    def prefetch(self, records: Iterable[Record | str]) -> list:
        """Encode candidates into the cache only (no pool or index change): safe to call from
        a worker thread while another thread checks, so encoding overlaps the requests."""
        records = list(records)
        texts = [r.instruction if isinstance(r, Record) else r for r in records]
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            self._cache.update(zip(todo, self.encoder(todo)))
        return records

    def _vec(self, text: str) -> np.ndarray:
        v = self._cache.get(text)
        if v is None:
            v = self._cache[text] = self.encoder([text])[0]
        return v

    def check(self, record: Record) -> str | None:
        self._flush_pool()
        self.last_detail = {}
        m = self.index.match(self._vec(record.instruction), lineage_ids(record, self._where()))
        if m is None:
            return None
        self._cache.pop(record.instruction, None)
        score, i = m
        self.last_detail = {"nearest": self.texts[i], "cosine": round(score, 4)}
        return "embed_dup"

    def _where(self) -> dict[str, list[int]]:
        """Kept text -> its indexes, for lineage exclusion (extended as the pool grows)."""
        for i in range(self._where_n, len(self.texts)):
            self._where_map.setdefault(self.texts[i], []).append(i)
        self._where_n = len(self.texts)
        return self._where_map

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
