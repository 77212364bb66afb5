"""The models under evaluation: one base in memory, each adapter loaded onto it by name
and switched on in turn (the base is the same weights with the adapters disabled).

Generation is greedy and batched with left padding; prompts are rendered with the chat
template exactly as training rendered them (datagen.train.data.record_messages). Device
and dtype follow datagen train: bf16 on a GPU that has it, fp16 on older GPUs, fp32 on CPU.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..records import Record
from ..train.data import record_messages, tokenize_conversation
from ..train.model import load_model, load_tokenizer, pick_precision, resolve_base_model


@dataclass
class LoadedModels:
    model: Any
    tokenizer: Any
    base_name: str
    adapter_names: list[str] = field(default_factory=list)  # peft names, one per adapter dir
    device: str = "cpu"
    precision: str = "fp32"

    @contextmanager
    def use(self, which: int | None):
        """Run the block with adapter `which` active (None: the bare base model)."""
        if which is None:
            ctx = self.model.disable_adapter() if self.adapter_names else nullcontext()
            with ctx:
                yield
            return
        self.model.set_adapter(self.adapter_names[which])
        yield


def load_models(base_model: str, adapters: Sequence[str | Path], precision: str = "auto",
                threads: int | None = None) -> LoadedModels:
    import torch

    if threads:
        torch.set_num_threads(threads)
    for a in adapters:
        if not (Path(a) / "adapter_config.json").is_file():
            raise ConfigError(f"no adapter in {a} (expected adapter_config.json from `datagen train`)")
    base = resolve_base_model(base_model)
    prec = pick_precision(precision)
    tok = load_tokenizer(base)
    model = load_model(base, prec)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    names = []
    if adapters:
        from peft import PeftModel

        names = [f"a{i}" for i in range(len(adapters))]
        model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name=names[0])
        for name, path in zip(names[1:], adapters[1:]):
            model.load_adapter(str(path), adapter_name=name)
    model.eval()
    return LoadedModels(model, tok, base.name, names, device, prec)


def prompt_and_reference(rec: Record, system: str | None = None) -> tuple[list[dict], str] | None:
    """The conversation up to the last assistant turn, and that turn (the reference)."""
    msgs = record_messages(rec, system)
    if msgs is None:
        return None
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return msgs[:last], msgs[last]["content"]


def generate_batch(lm: LoadedModels, prompts: Sequence[list[dict]], max_new_tokens: int = 128,
                   batch_size: int = 8) -> list[str]:
    """Greedy answers, `batch_size` prompts at a time, left padded."""
    import torch

    tok = lm.tokenizer
    side = tok.padding_side
    tok.padding_side = "left"
    out: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                     for p in prompts[i:i + batch_size]]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
            with torch.no_grad():
                gen = lm.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                        top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
            width = enc["input_ids"].shape[1]
            out.extend(tok.decode(row[width:], skip_special_tokens=True).strip() for row in gen)
    finally:
        tok.padding_side = side
    return out


def reference_losses(lm: LoadedModels, conversations: Sequence[list[dict]], batch_size: int = 8) -> list[float | None]:
    """Mean token cross-entropy of each conversation's assistant tokens (the reference
    answer, and its end-of-turn token) under the active model; None without any."""
    import torch

    rows = [tokenize_conversation(lm.tokenizer, c) for c in conversations]
    pad = lm.tokenizer.pad_token_id
    out: list[float | None] = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        att = torch.zeros((len(chunk), width), dtype=torch.long)
        lab = torch.full((len(chunk), width), -100, dtype=torch.long)
        for j, r in enumerate(chunk):
            n = len(r["input_ids"])
            ids[j, :n] = torch.tensor(r["input_ids"])
            att[j, :n] = 1
            mask = torch.tensor(r["assistant_masks"], dtype=torch.bool)
            lab[j, :n] = torch.where(mask, ids[j, :n], torch.tensor(-100))
        ids, att, lab = ids.to(lm.device), att.to(lm.device), lab.to(lm.device)
        with torch.no_grad():
            logits = lm.model(input_ids=ids, attention_mask=att).logits.float()
        tgt = lab[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt, ignore_index=-100,
                                                reduction="none")
        counts = (tgt != -100).sum(dim=1)
        for j in range(len(chunk)):
            c = int(counts[j])
            out.append(round(float(nll[j].sum() / c), 6) if c else None)
    return out
