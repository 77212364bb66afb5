"""Embedding dedup past filters.faiss_above: a faiss IVF index instead of the exact matrix,
with the same match rule (cosine strictly above the threshold) and measured recall."""

import sys

import numpy as np
import pytest

from datagen.filters import FilterConfig, build_chain
from datagen.filters.embedding import EmbeddingDedup, EmbeddingIndex
from datagen.records import Record


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def data(n=4000, d=64, planted=300, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    base = unit(rng.standard_normal((n, d)))
    near = unit(base[:planted] + noise * rng.standard_normal((planted, d)))  # cosine ~0.99 with their original
    far = unit(rng.standard_normal((planted, d)))
    return base, near, far


def test_below_the_threshold_the_search_is_exact():
    base, near, _ = data(n=500)
    idx = EmbeddingIndex(0.95, faiss_above=1000)
    idx.add(base)
    assert idx.kind == "exact"
    for v in near[:50]:
        assert idx.nearest(v) == idx.nearest(v, exact=True)


def test_ivf_past_the_threshold_finds_the_planted_duplicates():
    pytest.importorskip("faiss")
    base, near, far = data()
    idx = EmbeddingIndex(0.95, faiss_above=2000)
    idx.add(base[:1500])
    assert idx.kind == "exact"
    idx.add(base[1500:])  # crosses 2000: the index is rebuilt as IVF, nothing lost
    assert idx.kind == "ivf" and len(idx) == len(base)
    exact = [idx.nearest(v, exact=True) for v in near]
    found = [idx.match(v) for v in near]
    truth = [i for i, (s, _) in enumerate(exact) if s > 0.95]
    assert len(truth) == len(near)
    recall = sum(found[i] is not None and found[i][1] == exact[i][1] for i in truth) / len(truth)
    assert recall >= 0.99
    assert all(idx.match(v) is None for v in far)  # random vectors are nowhere near
    # a match is still "strictly greater than the threshold", with the exact score
    s, i = exact[0]
    assert found[0] == pytest.approx((s, i))
    strict = EmbeddingIndex(s, faiss_above=2000)
    strict.add(base)
    assert strict.kind == "ivf" and strict.match(near[0]) is None
    # vectors added after the switch are found too
    extra = unit(np.random.default_rng(5).standard_normal((10, base.shape[1])))
    idx.add(extra)
    assert idx.match(extra[3]) == pytest.approx((1.0, len(base) + 3), abs=1e-5)


def test_sampled_recall_is_reported():
    pytest.importorskip("faiss")
    base, near, _ = data()
    idx = EmbeddingIndex(0.95, faiss_above=1000)
    idx.SHADOW_EVERY = 1  # every query checked against the exact search
    idx.add(base)
    for v in near:
        idx.match(v)
    assert idx.shadow["queries"] == len(near) and idx.shadow["exact_matches"] == len(near)
    assert idx.recall >= 0.99


def test_without_faiss_it_stays_exact(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    base, near, _ = data(n=1200)
    idx = EmbeddingIndex(0.95, faiss_above=1000)
    idx.add(base)
    assert idx.kind == "exact" and "datagen[faiss]" in caplog.text
    assert idx.match(near[0])[1] == 0


def test_filter_config_reaches_the_index():
    chain = build_chain(FilterConfig(faiss_above=10), "en")
    dedup = next(f for f in chain.filters if isinstance(f, EmbeddingDedup))
    assert dedup.index.faiss_above == 10


def test_dedup_filter_past_the_threshold(monkeypatch):
    pytest.importorskip("faiss")
    base, near, _ = data(n=1500)
    vecs = {f"t{i}": v for i, v in enumerate(base)}
    vecs.update({f"n{i}": v for i, v in enumerate(near)})
    f = EmbeddingDedup(0.95, encoder=lambda texts: np.stack([vecs[t] for t in texts]), faiss_above=1000)
    f.add_many([Record(instruction=f"t{i}") for i in range(len(base))])
    assert f.check(Record(instruction="n7")) == "embed_dup" and f.last_detail["nearest"] == "t7"
    assert f.index.kind == "ivf"
