"""The ONNX Runtime encoder: which folders it takes, and that it gives sentence-transformers'
vectors (export checked, cached, and fallen back from)."""

import json
import shutil
from functools import partial

import numpy as np
import pytest

from datagen.filters import encoder, encoder_onnx


def _folder(tmp_path, modules, pooling):
    (tmp_path / "1_Pooling").mkdir(parents=True)
    (tmp_path / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": "", "type": f"sentence_transformers.models.{m}"}
         for i, m in enumerate(modules)]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (tmp_path / "tokenizer.json").write_text("{}")
    return tmp_path


MEAN = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}


def test_mean_pooled_folders_are_supported(tmp_path):
    assert encoder_onnx.supported(_folder(tmp_path / "a", ["Transformer", "Pooling", "Normalize"], MEAN))
    assert encoder_onnx.supported(_folder(tmp_path / "b", ["Transformer", "Pooling"], MEAN))


def test_other_poolings_and_pipelines_stay_on_sentence_transformers(tmp_path):
    cls = MEAN | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    both = MEAN | {"pooling_mode_max_tokens": True}
    assert not encoder_onnx.supported(_folder(tmp_path / "a", ["Transformer", "Pooling", "Normalize"], cls))
    assert not encoder_onnx.supported(_folder(tmp_path / "b", ["Transformer", "Pooling"], both))
    assert not encoder_onnx.supported(_folder(tmp_path / "c", ["Transformer", "Pooling", "Dense", "Normalize"], MEAN))
    no_tok = _folder(tmp_path / "d", ["Transformer", "Pooling"], MEAN)
    (no_tok / "tokenizer.json").unlink()
    assert not encoder_onnx.supported(no_tok)
    assert not encoder_onnx.supported(tmp_path / "empty")


def test_cache_key_changes_with_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_MODEL_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"1")
    first = encoder_onnx.cache_path(folder)
    assert first.parent == tmp_path / "cache" / "onnx"
    (folder / "model.safetensors").write_bytes(b"22")
    assert encoder_onnx.cache_path(folder) != first


TEXTS = ["What are three tips for staying healthy?", "Describe the water cycle.", "写一首关于秋天的诗",
         "Classify the sentiment: the soup was cold and the waiter rude. " * 30, ""]


@pytest.mark.model
def test_export_reproduces_sentence_transformers_and_is_reused(tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    from datagen.llm.embedded import embedder_dir

    path = embedder_dir()
    target = tmp_path / "minilm.onnx"
    monkeypatch.setattr(encoder_onnx, "cache_path", lambda p: target)
    enc = encoder_onnx.load(path, threads=1, sentence_transformer=partial(encoder._sentence_transformer, str(path)))
    assert isinstance(enc, encoder_onnx.OnnxEncoder) and target.is_file()
    want = SentenceTransformer(str(path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    got = enc(TEXTS)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() < 1e-5
    assert enc([]).shape == (0, 384)
    stamp = target.stat().st_mtime_ns
    again = encoder_onnx.load(path, threads=1, sentence_transformer=lambda: pytest.fail("exported again"))
    assert np.array_equal(again(TEXTS), got)
    assert target.stat().st_mtime_ns == stamp  # loaded, not exported again


@pytest.mark.model
def test_a_failed_export_falls_back_to_sentence_transformers(tmp_path, monkeypatch, caplog):
    from datagen.llm.embedded import embedder_dir

    folder = tmp_path / "minilm"
    shutil.copytree(embedder_dir(), folder)
    monkeypatch.setattr(encoder_onnx, "cache_path", lambda p: tmp_path / "out" / "m.onnx")
    monkeypatch.setattr(encoder_onnx, "TOLERANCE", -1.0)  # no export can pass the check
    assert encoder_onnx.load(folder, threads=1, sentence_transformer=partial(encoder._sentence_transformer, str(folder))) is None
    assert not list((tmp_path / "out").glob("*"))  # nothing half-written is left behind
    assert "no ONNX export of minilm" in caplog.text  # said, not silent
    monkeypatch.setattr(encoder, "_MODELS", {})
    vecs = encoder.load_encoder(str(folder))(TEXTS[:2])  # sentence-transformers' own path
    assert vecs.shape == (2, 384) and np.allclose((vecs ** 2).sum(1), 1, atol=1e-5)


def test_the_backend_switch_skips_onnx(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_EMBED_BACKEND", "sentence-transformers")
    folder = _folder(tmp_path / "a", ["Transformer", "Pooling", "Normalize"], MEAN)
    assert encoder_onnx.load(folder, threads=1, sentence_transformer=lambda: pytest.fail("exported")) is None
