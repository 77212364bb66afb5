"""The sentence encoder as an ONNX Runtime session, exported once from sentence-transformers.

Importing sentence-transformers (with transformers, torch, sklearn and scipy behind it)
takes 6-7 s on a 2-core VM, longer than a whole 200-record run against a fast endpoint;
onnxruntime and tokenizers load the same model in ~0.4 s and give the same vectors
(max abs difference ~2e-7 on MiniLM). So the first use of a model folder exports it:
sentence-transformers loads it, `torch.onnx.export` writes the transformer with the mean
pooling and L2 normalisation folded in, and the file is kept only if it reproduces
sentence-transformers' embeddings on probe texts (English and Chinese). Later runs load
the file. Models whose pipeline is not Transformer -> mean Pooling [-> Normalize] stay on
sentence-transformers, as does everything when onnxruntime or onnx is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

EXPORT_VERSION = 1  # bump to re-export cached files after a change to the graph below
PROBES = ["Write a haiku about the sea.", "Classify the sentiment of this review: great food, slow service.",
          "给出三个学习编程的建议。", "x", "What is the capital of France? " * 20]
TOLERANCE = 1e-4


def _modules(path: Path) -> list[str] | None:
    try:
        mods = json.loads((path / "modules.json").read_text())
        return [m["type"].rsplit(".", 1)[-1] for m in mods]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def supported(path: Path) -> bool:
    """A Transformer -> mean Pooling [-> Normalize] folder with a fast tokenizer file."""
    mods = _modules(path)
    if mods not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return False
    if not (path / "tokenizer.json").is_file():
        return False
    try:
        pool = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode") and v}
    return modes == {"pooling_mode_mean_tokens"}


def cache_path(path: Path) -> Path:
    """Where the export of `path` lives: keyed by the folder and its weights' size and mtime."""
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    stamp = [str(path.resolve()), EXPORT_VERSION] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]
    from ..llm.embedded import model_cache_dir

    return model_cache_dir() / "onnx" / f"{path.name}-{key}.onnx"


def _max_length(path: Path) -> int:
    try:
        return int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


def export(st, path: Path, out: Path) -> None:
    """Export the SentenceTransformer `st` of folder `path` to `out` (atomically), checked
    against `st`'s own vectors."""
    import torch

    graph = _pooled(st[0].auto_model.eval())
    feats = st.tokenizer(PROBES[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    names = [n for n in names if n in feats]
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"embedding": {0: "batch"}}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about constant Python booleans
        torch.onnx.export(graph, tuple(feats[n] for n in names), str(tmp), input_names=names,
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    try:
        want = st.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        got = OnnxEncoder(tmp, path, threads=1)(PROBES)
        diff = float(np.abs(np.asarray(want, np.float32) - got).max())
        if not diff <= TOLERANCE:
            raise RuntimeError(f"ONNX export of {path} differs from sentence-transformers by {diff:.2g}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _pooled(bert):
    """The transformer with sentence-transformers' mean pooling, then L2 normalisation
    (load_encoder's vectors are normalized whatever the folder's last module)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2, dim=-1)

    return Pooled().eval()


class OnnxEncoder:
    """texts -> float32 embeddings from an exported file and the folder's tokenizer.json."""

    def __init__(self, onnx_file: Path, path: Path, threads: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_file), so, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(_max_length(path))

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._session.get_outputs()[0].shape[-1]), np.float32)
        encs = self._tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))  # batches pad little
        out: list[np.ndarray | None] = [None] * len(texts)
        for b in range(0, len(order), batch_size):
            idx = order[b: b + batch_size]
            width = max(len(encs[i].ids) for i in idx)
            feeds = {n: np.zeros((len(idx), width), np.int64) for n in self._inputs}
            for row, i in enumerate(idx):
                e, n = encs[i], len(encs[i].ids)
                feeds["input_ids"][row, :n] = e.ids
                feeds["attention_mask"][row, :n] = 1
                if "token_type_ids" in feeds:
                    feeds["token_type_ids"][row, :n] = e.type_ids
            vecs = self._session.run(None, feeds)[0]
            for row, i in enumerate(idx):
                out[i] = vecs[row]
        return np.stack(out).astype(np.float32, copy=False)


def load(path: Path, threads: int, sentence_transformer: Callable[[], object]) -> OnnxEncoder | None:
    """The ONNX encoder for `path`, exported on first use from `sentence_transformer()`;
    None where that is not possible (a model this cannot express, onnxruntime/onnx
    missing, export failed)."""
    if os.environ.get("DATAGEN_EMBED_BACKEND", "onnx") != "onnx" or not supported(path):
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    target = cache_path(path)
    if not target.is_file():
        try:
            import onnx  # noqa: F401

            export(sentence_transformer(), path, target)
        except Exception as e:  # noqa: BLE001 - any failure falls back to sentence-transformers
            import logging

            logging.getLogger(__name__).warning(
                "embedding: no ONNX export of %s (%s); encoding with sentence-transformers, slower",
                path.name, str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
            return None
    return OnnxEncoder(target, path, threads)
