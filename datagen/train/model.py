"""Find and load the base model: a local folder, a .gguf file, or the embedded SmolLM2.

Nothing here downloads: every from_pretrained call is local_files_only, and a name that
is not a local path is a ConfigError naming what would work.
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded model is, on the Hub


@dataclass
class BaseModel:
    spec: str  # what the user wrote ("embedded", a folder, a .gguf file)
    folder: Path  # the folder from_pretrained reads
    gguf_file: str | None = None  # set when the weights are a GGUF inside `folder`

    @property
    def name(self) -> str:
        return "SmolLM2-135M-Instruct (embedded)" if self.spec == "embedded" else str(self.spec)

    @property
    def hub_id(self) -> str:
        """The model's id for adapter_config.json and the model card: the Hub id of the
        embedded model, else the path or name the user gave."""
        return SMOLLM2_ID if self.spec == "embedded" else str(self.spec)


def resolve_base_model(spec: str) -> BaseModel:
    """'embedded' (or its Hub id, as adapter_config.json records it) -> the cached SmolLM2
    folder; a folder with config.json; or a .gguf file."""
    if spec == SMOLLM2_ID and not Path(spec).exists():
        spec = "embedded"
    if spec == "embedded":
        from ..llm.embedded import smollm2_dir

        return BaseModel(spec, smollm2_dir())
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return BaseModel(spec, path.parent, path.name)
    if path.is_dir() and (path / "config.json").is_file():
        return BaseModel(spec, path)
    if path.is_dir():
        raise ConfigError(f"base model folder {path} has no config.json (expected a from_pretrained folder)")
    raise ConfigError(
        f"base model not found: {spec} (give a local model folder, a .gguf file, or 'embedded'; "
        "nothing is downloaded)"
    )


def pick_precision(precision: str) -> str:
    """'auto' -> bf16 on a GPU that has it, fp16 on an older GPU, fp32 on CPU."""
    import torch

    if precision != "auto":
        if precision in ("bf16", "fp16") and not torch.cuda.is_available():
            raise ConfigError(f"precision {precision} needs a CUDA GPU; use fp32 (or auto) on CPU")
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def load_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base.folder, gguf_file=base.gguf_file, local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise ConfigError(f"base model {base.spec} has no chat template: use an instruct/chat model")
    return tok


def load_model(base: BaseModel, precision: str = "fp32", load_in_4bit: bool = False):
    """The base causal LM in the run's dtype (4-bit NF4 for QLoRA)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    kw: dict = dict(local_files_only=True, dtype=dtype)
    if base.gguf_file:
        from transformers import GgufConfig

        kw.update(gguf_file=base.gguf_file, quantization_config=GgufConfig(dequantize=True))
    if load_in_4bit:
        kw["quantization_config"] = _qlora_config(dtype)
        kw["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}  # one GPU per rank under torchrun
        if base.gguf_file:
            raise ConfigError("load_in_4bit needs a safetensors/bin model folder, not a .gguf file")
    try:
        model = AutoModelForCausalLM.from_pretrained(base.folder, **kw)
    except OSError as e:
        raise ConfigError(f"cannot load base model {base.spec}: {e}") from None
    return model


def _qlora_config(compute_dtype):
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise ConfigError("load_in_4bit (QLoRA) needs a CUDA GPU; train in fp32 on CPU instead")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("load_in_4bit (QLoRA) needs bitsandbytes: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)
