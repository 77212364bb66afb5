"""Embedding dedup: the index and filter with a deterministic encoder, and one test with
the embedded MiniLM."""

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.filters import FilterConfig, build_chain
from datagen.filters.embedding import EmbeddingDedup, EmbeddingIndex, load_encoder
from datagen.records import Record


class BagOfWords:
    """A stand-in sentence encoder: normalized word counts over a fixed vocabulary."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.calls: list[int] = []

    def __call__(self, texts):
        self.calls.append(len(texts))
        vecs = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                vecs[i, self.vocab.setdefault(w.strip(".!?:,"), len(self.vocab) % 64)] += 1
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def test_index_grows_and_finds_nearest_exactly():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = EmbeddingIndex(0.95)
    assert idx.nearest(vecs[0]) == (-1.0, -1)
    for v in vecs[:1000]:
        idx.add(v)  # one at a time, past the initial capacity
    idx.add(vecs[1000:])
    assert len(idx) == 3000
    q = vecs[1234] + 0.01 * rng.normal(size=16).astype(np.float32)
    q /= np.linalg.norm(q)
    score, i = idx.nearest(q)
    assert i == 1234 and score == pytest.approx(float(np.max(vecs @ q)))
    assert idx.match(q) == (score, 1234)
    assert idx.match(-vecs[1234]) is None


def test_threshold_is_strictly_greater():
    idx = EmbeddingIndex(0.5)
    idx.add(np.array([1.0, 0.0], dtype=np.float32))
    assert idx.match(np.array([0.5, 0.75 ** 0.5], dtype=np.float32)) is None  # cosine exactly 0.5
    assert idx.match(np.array([0.6, 0.8], dtype=np.float32)) is not None


def test_filter_drops_paraphrase_and_batches_encoding():
    enc = BagOfWords()
    f = EmbeddingDedup(0.9, encoder=enc)
    f.add_many([Record("give three tips for staying healthy"), Record("describe the water cycle")])
    assert enc.calls == []  # the pool is encoded on first use, not when it is handed over
    cands = [Record("staying healthy: give three tips"), Record("write a poem about autumn leaves")]
    f.prepare(cands)
    assert enc.calls == [2, 2]
    assert f.check(cands[0]) == "embed_dup"
    assert f.last_detail["nearest"] == "give three tips for staying healthy"
    assert f.last_detail["cosine"] > 0.9
    assert f.check(cands[1]) is None
    f.add(cands[1])
    assert enc.calls == [2, 2]  # everything came from the prepared batch
    assert len(f.index) == 3


def test_chain_runs_embedding_after_rouge(monkeypatch):
    enc = BagOfWords()
    monkeypatch.setattr("datagen.filters.embedding.load_encoder", lambda model=None, batch_size=64: enc)
    chain = build_chain(FilterConfig(embed=0.9), "en")
    recs = [Record("Give three tips for staying healthy."), Record("Staying healthy: give three tips."),
            Record("Write a short poem about autumn leaves.")]
    verdicts = chain.check_many(recs)
    assert enc.calls == [3]  # the batch is encoded in one call, not one per record
    assert [v.reason for v in verdicts] == [None, "embed_dup", None]
    assert verdicts[1].filter == "embedding" and "rouge_l" not in verdicts[1].detail


def test_warm_up_loads_in_the_background(monkeypatch):
    import threading
    import time

    loaded = threading.Event()

    def slow_load(model=None, batch_size=64):
        time.sleep(1.0)  # far longer than warm_up may take below, even on a loaded machine
        loaded.set()
        return BagOfWords()

    monkeypatch.setattr("datagen.filters.embedding.load_encoder", slow_load)
    monkeypatch.setenv("DATAGEN_EMBED_INPROCESS", "1")
    f = EmbeddingDedup(0.9)
    t0 = time.perf_counter()
    f.warm_up()
    assert time.perf_counter() - t0 < 0.5 and not loaded.is_set()  # returned at once
    assert f.check(Record("describe the water cycle")) is None  # waits for the load
    assert loaded.is_set()


def test_a_failed_background_load_raises_where_the_encoder_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("DATAGEN_EMBED_INPROCESS", "1")
    f = EmbeddingDedup(0.9, model=str(tmp_path / "nope"))
    f.warm_up()
    with pytest.raises(ConfigError, match="not found"):
        f.check(Record("describe the water cycle"))


def test_a_missing_model_folder_fails_before_any_process_starts(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        EmbeddingDedup(0.9, model=str(tmp_path / "nope")).warm_up()


@pytest.mark.model
def test_encoder_process_gives_the_in_process_vectors():
    from datagen.filters.encoder_process import EncoderProcess

    texts = ["What are three tips for staying healthy?", "Describe the water cycle.", "写一首诗"]
    child = EncoderProcess()
    try:
        assert np.allclose(child(texts), load_encoder()(texts), atol=1e-5)
        f = EmbeddingDedup(0.85)
        f.warm_up()
        assert f.check(Record("Give me three tips to stay healthy.")) is None
    finally:
        child.close()


def test_missing_model_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_encoder(str(tmp_path / "nope"))


@pytest.mark.model
def test_embedded_minilm_catches_paraphrases():
    f = EmbeddingDedup(0.85)
    f.add_many([Record("What are three tips for staying healthy?"), Record("Describe the water cycle.")])
    assert f.check(Record("Give me three tips to stay healthy.")) == "embed_dup"
    assert f.check(Record("Translate this sentence into French.")) is None
    assert f.last_detail == {}


def test_an_evolution_is_compared_with_everything_but_its_own_lineage():
    f = EmbeddingDedup(0.9, encoder=BagOfWords())
    parent = "give three tips for staying healthy"
    other = "describe the water cycle in simple words"
    f.add_many([Record(parent), Record(other)])
    lineage = {"lineage": [{"id": "s1", "instruction": parent, "method": "seed"}]}
    # near its own parent: not a duplicate (only the equality check judges a step against its parent)
    assert f.check(Record("give three tips for staying healthy today", meta=lineage)) is None
    # the same text without that lineage is one
    assert f.check(Record("give three tips for staying healthy today")) == "embed_dup"
    # near another lineage's instruction: still a duplicate
    assert f.check(Record("describe the water cycle in simple words please", meta=lineage)) == "embed_dup"
