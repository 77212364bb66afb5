"""Sentence encoders: the embedded MiniLM or a local sentence-transformers folder."""

from __future__ import annotations

import os
from functools import lru_cache, partial
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError

Encoder = Callable[[Sequence[str]], np.ndarray]

# model folder -> (texts, batch_size) -> vectors, from ONNX Runtime or sentence-transformers
_MODELS: dict[str, Callable[..., np.ndarray]] = {}


def encoder_threads() -> int:
    """Torch threads for encoding: $DATAGEN_EMBED_THREADS, else half the cores."""
    env = os.environ.get("DATAGEN_EMBED_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) // 2)


def check_model_path(model: str | None):
    """The model folder: `model`, or the embedded MiniLM; ConfigError when it is missing."""
    from pathlib import Path

    if model:
        path = Path(model).expanduser()
        if not path.exists():
            raise ConfigError(f"embedding model folder not found: {model} (give a local "
                              "sentence-transformers folder; nothing is downloaded)")
        return path
    from ..llm.embedded import embedder_dir

    return embedder_dir()


def load_encoder(model: str | None = None, batch_size: int = 64) -> Encoder:
    """A function texts -> normalized float32 embeddings, from the embedded MiniLM or the
    sentence-transformers folder `model`. Models are loaded once per process."""
    path = check_model_path(model)
    key = str(path)
    fn = _MODELS.get(key)
    if fn is None:
        from .encoder_onnx import load as load_onnx

        # the ONNX session gives the same vectors, loaded in a fraction of the time; the
        # sentence-transformers model an export needed is reused if the export fails
        fn = _MODELS[key] = load_onnx(path, encoder_threads(), partial(_sentence_transformer, key)) \
            or partial(_st_encode, _sentence_transformer(key))
    return partial(fn, batch_size=batch_size)


def _st_encode(st, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    vecs = st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)


@lru_cache(maxsize=None)
def _sentence_transformer(key: str):
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weights-loading bar is noise in run output
    # encoding shares the box with the request loop (and a local server, often): half
    # the cores, one on a 2-core VM, where 2 threads were 6.8x slower per text under load
    torch.set_num_threads(min(torch.get_num_threads(), encoder_threads()))
    return SentenceTransformer(key, device="cpu")
