"""Answer a prompt with a base model plus a trained adapter (to see what training did)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from .model import BaseModel, load_model, load_tokenizer, resolve_base_model


def base_for_adapter(adapter: str | Path) -> str:
    """The base model an adapter was trained on, from its train_report or adapter_config."""
    adapter = Path(adapter)
    report = adapter / "train_report.json"
    if report.is_file():
        spec = json.loads(report.read_text(encoding="utf-8")).get("hyperparameters", {}).get("base_model")
        if spec:
            return spec
    conf = adapter / "adapter_config.json"
    if conf.is_file():
        spec = json.loads(conf.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if spec:
            return spec
    raise ConfigError(f"cannot tell the base model of {adapter}: pass --base-model")


def load_for_generation(base_model: str | None = None, adapter: str | Path | None = None, threads: int | None = 1):
    """(model, tokenizer): the base, with the adapter applied when one is given."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    if adapter is not None:
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ConfigError(f"no adapter in {adapter} (expected adapter_config.json from `datagen train`)")
    if base_model is None:
        if adapter is None:
            raise ConfigError("give --base-model, --adapter, or both")
        base_model = base_for_adapter(adapter)
    base: BaseModel = resolve_base_model(base_model)
    tok = load_tokenizer(base)
    model = load_model(base, "fp32")
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tok


def generate(model, tokenizer, prompt: str, system: str | None = None, max_new_tokens: int = 128,
             temperature: float = 0.0, seed: int = 0) -> str:
    """One chat answer: greedy at temperature 0, sampled (seeded) above it."""
    import torch

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    kw = dict(max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    if temperature > 0:
        torch.manual_seed(seed)
        kw.update(do_sample=True, temperature=temperature)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model.generate(**{k: v.to(device) for k, v in enc.items()}, **kw)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
