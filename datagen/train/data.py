"""Turn dataset records into chat-template token ids with a loss mask on assistant turns.

Masks are computed here rather than with TRL's `assistant_only_loss`, because that needs a
chat template with `{% generation %}` markers, which most released templates (SmolLM2,
Llama, Qwen) lack. Rendering each conversation prefix through the model's own template
and marking the characters each assistant turn adds works for any template; for a single
turn it masks exactly what TRL's prompt/completion path masks.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..records import Record


@dataclass
class TrainData:
    """The records of one run and where they came from (for the report)."""

    records: list[Record]
    source: dict[str, Any]  # {"dataset", "version", "store", "data_sha256"} or {"data", "data_sha256"}


def load_train_data(dataset: str | None, store: str | None, data: str | None) -> TrainData:
    """Records from a store ref NAME[@vN], or from a JSONL file in any format io reads."""
    if data:
        from ..io import read_records

        path = Path(data)
        records = read_records(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return TrainData(records, {"data": str(path), "data_sha256": sha})
    if not dataset:
        raise ConfigError("train: say what to train on: --dataset NAME[@vN] or --data FILE.jsonl")
    from ..store import DatasetStore

    st = DatasetStore(store)
    ver = st.resolve(dataset)
    records = ver.records()
    # the manifest's hash is the version's identity, the one other tools compare against
    sha = ver.manifest.get("data_sha256")
    return TrainData(records, {"dataset": ver.name, "version": ver.version, "store": str(st.root),
                               "data_sha256": sha})


def record_messages(rec: Record, system: str | None = None) -> list[dict[str, str]] | None:
    """The conversation to train on, or None when the record has no answer to learn.

    Multi-turn records use `messages`; Alpaca-style ones become their `system` turn and
    `history` turns (LLaMA-Factory's columns, as `datagen export` writes them) when they
    have them, then one user turn (instruction, then the input after a blank line) and
    one assistant turn (output)."""
    if rec.messages:
        msgs = [{"role": m["role"], "content": m["content"]} for m in rec.messages]
    else:
        prompt = rec.instruction.strip()
        if rec.input.strip():
            prompt = f"{prompt}\n\n{rec.input.strip()}"
        own_system = rec.extra.get("system")
        msgs = [{"role": "system", "content": own_system}] if isinstance(own_system, str) and own_system.strip() else []
        history = rec.extra.get("history") or []
        if not isinstance(history, list) or not all(
                isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in history):
            raise DataError(f"record {rec.id}", None, "field 'history' must be a list of [question, answer] strings")
        for q, a in history:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": rec.output}]
    if not any(m["role"] == "assistant" and m["content"].strip() for m in msgs):
        return None
    if system and msgs[0]["role"] != "system":
        msgs = [{"role": "system", "content": system}] + msgs
    return msgs


def _render(tokenizer, messages, add_generation_prompt=False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def assistant_spans(tokenizer, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns.

    A span runs from the end of the generation prompt before the turn to the end of the
    turn as rendered (so it covers the end-of-turn token the model must learn to emit)."""
    full = _render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1])
        # templates that render a prefix differently (e.g. dropping earlier reasoning) fall
        # back to where the texts diverge, as TRL does for prompt/completion pairs
        start = len(before) if full.startswith(before) else _common_prefix(before, full)
        end = len(upto) if full.startswith(upto) else _common_prefix(upto, full)
        if end > start:
            spans.append((start, end))
    return full, spans


def tokenize_conversation(tokenizer, messages: list[dict[str, str]]) -> dict[str, list[int]]:
    """input_ids plus assistant_masks (1 = the token is trained on)."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = []
    for s, e in enc["offset_mapping"]:
        # a token belongs to a turn when it starts inside it; zero-width tokens never do
        mask.append(int(e > s and any(a <= s < b for a, b in spans)))
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}


def split_records(records: list[Record], eval_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """A seeded held-out split: at least one eval record when the fraction asks for any and
    there are two or more records; the train side is never empty."""
    if eval_fraction <= 0 or len(records) < 2:
        return list(records), []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(records) - 1, max(1, round(len(records) * eval_fraction)))
    held = set(order[:n_eval])
    train = [r for i, r in enumerate(records) if i not in held]
    evals = [r for i, r in enumerate(records) if i in held]
    return train, evals


def build_dataset(tokenizer, records: list[Record], system: str | None = None, where: str = "dataset"):
    """A `datasets.Dataset` of input_ids/assistant_masks, and how many records were skipped
    (no assistant answer, or no assistant token after rendering)."""
    from datasets import Dataset

    rows, skipped = [], 0
    for rec in records:
        msgs = record_messages(rec, system)
        if msgs is None:
            skipped += 1
            continue
        row = tokenize_conversation(tokenizer, msgs)
        if 1 not in row["assistant_masks"]:
            skipped += 1
            continue
        rows.append(row)
    if not rows:
        raise DataError(where, None, "no record has an assistant answer to train on")
    return Dataset.from_list(rows), skipped
