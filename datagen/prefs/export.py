"""Preference versions in the trainers' preference formats (docs/preferences.md):

- alpaca / sharegpt: LLaMA-Factory's ranking data (`"ranking": true` in dataset_info.json),
  `{"instruction", "input", "chosen", "rejected"}` (+ `"history"`, `"system"` for a
  conversation) or `{"conversations": [earlier turns..., human turn], "chosen": {"from":
  "gpt", ...}, "rejected": {...}}` (+ `"system"`);
- messages: TRL's conversational preference rows, `{"prompt": [system, earlier turns...,
  user message], "chosen": [assistant message], "rejected": [assistant message]}` (DPOTrainer);
- openai: OpenAI preference fine-tuning JSONL, `{"input": {"messages": [...]},
  "preferred_output": [...], "non_preferred_output": [...]}`;
- hf: the TRL rows, `datasets.Dataset.save_to_disk`.

A pair made from a conversation (extra `history`, `system`) is for its last turn: the
earlier turns are the prompt's context in every format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..export import (ExportResult, _sha1, _write_rows, export_dataset, is_folder_target, save_hf_rows,
                      update_dataset_info)
from ..records import Record
from . import Turn, is_preference_version

FORMATS = ("alpaca", "sharegpt", "messages", "openai", "hf")
EXTENSIONS = {"alpaca": "json", "sharegpt": "json", "messages": "jsonl", "openai": "jsonl"}


def _parts(r: Record) -> tuple[str, str, str]:
    prompt, chosen, rejected = (str(r.extra.get(k) or "") for k in ("prompt", "chosen", "rejected"))
    return prompt, chosen, rejected


def _turn(r: Record, prompt: str) -> Turn:
    """The turn a pair answers, with the context a pair made from a conversation keeps
    (extra `system`, `history`)."""
    return Turn(str(r.extra.get("system") or ""), tuple((str(u), str(a)) for u, a in r.extra.get("history") or []),
                prompt)


def to_ranking_alpaca(r: Record) -> dict[str, Any]:
    prompt, chosen, rejected = _parts(r)
    turn = _turn(r, prompt)
    if not turn.history:
        row = {"instruction": r.instruction, "input": r.input, "chosen": chosen, "rejected": rejected}
    else:  # the last user turn is the instruction, the turns before it LLaMA-Factory's history
        row = {"instruction": prompt, "input": "", "chosen": chosen, "rejected": rejected,
               "history": [list(t) for t in turn.history]}
    return {**row, **({"system": turn.system} if turn.system else {})}


def to_ranking_sharegpt(r: Record) -> dict[str, Any]:
    prompt, chosen, rejected = _parts(r)
    turn = _turn(r, prompt)
    turns = [{"from": who, "value": text} for u, a in turn.history for who, text in (("human", u), ("gpt", a))]
    return {"conversations": turns + [{"from": "human", "value": prompt}],
            "chosen": {"from": "gpt", "value": chosen}, "rejected": {"from": "gpt", "value": rejected},
            **({"system": turn.system} if turn.system else {})}


def to_trl(r: Record) -> dict[str, Any]:
    prompt, chosen, rejected = _parts(r)
    return {"prompt": _turn(r, prompt).messages(), "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def to_openai(r: Record) -> dict[str, Any]:
    prompt, chosen, rejected = _parts(r)
    return {"input": {"messages": _turn(r, prompt).messages()},
            "preferred_output": [{"role": "assistant", "content": chosen}],
            "non_preferred_output": [{"role": "assistant", "content": rejected}]}


BUILDERS = {"alpaca": to_ranking_alpaca, "sharegpt": to_ranking_sharegpt, "messages": to_trl, "openai": to_openai,
            "hf": to_trl}


def ranking_entry(fmt: str, path: Path, rows: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """LLaMA-Factory's dataset_info.json entry for a ranking file (its history and system
    columns named where `rows` have them)."""
    entry: dict[str, Any] = {"file_name": path.name, "file_sha1": _sha1(path), "ranking": True}
    if fmt == "alpaca":
        entry["columns"] = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
        if any("history" in r for r in rows):
            entry["columns"]["history"] = "history"
    else:
        entry["formatting"] = "sharegpt"
        entry["columns"] = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
        entry["tags"] = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
    if any("system" in r for r in rows):
        entry["columns"]["system"] = "system"
    return entry


def export_preferences(records: list[Record], fmt: str, out: str | Path, name: str | None = None) -> ExportResult:
    """Write preference `records` in `fmt` (see the module doc); a pair with an empty side is
    skipped and counted. LLaMA-Factory formats are registered in dataset_info.json beside the file."""
    if fmt not in FORMATS:
        raise ConfigError(f"a preference version exports as {', '.join(FORMATS)}, not '{fmt}'")
    usable = [r for r in records if all(x.strip() for x in _parts(r))]
    rows = [BUILDERS[fmt](r) for r in usable]
    for key, empty in (("history", []), ("system", "")):  # a column some rows have, every row has
        if any(key in row for row in rows) and fmt in ("alpaca", "sharegpt"):
            for row in rows:
                row.setdefault(key, empty)
    out = Path(out)
    if fmt == "hf":
        save_hf_rows(rows, out)
        return ExportResult(out, fmt, len(rows), skipped=len(records) - len(usable))
    if is_folder_target(out):
        out = out / f"{name or 'datagen'}_{fmt}_pairs.{EXTENSIONS[fmt]}"
        key = out.stem
    else:
        key = name or out.stem
    if out.suffix.lower() not in (".json", ".jsonl"):
        raise ConfigError(f"--out {out}: use a .json or .jsonl file name")
    _write_rows(out, rows)
    info = None
    if fmt in ("alpaca", "sharegpt"):
        info = out.parent / "dataset_info.json"
        update_dataset_info(info, key, ranking_entry(fmt, out, rows))
    return ExportResult(out, fmt, len(rows), info, len(records) - len(usable))


def export_version(store, ref: str, fmt: str, out: str | Path, name: str | None = None,
                   reasoning: bool | None = None) -> ExportResult:
    """`datagen export`: a preference version in its preference format, any other through
    datagen/export.py."""
    dv = store.resolve(ref)
    if not is_preference_version(dv.manifest):
        return export_dataset(store, ref, fmt, out, name=name, reasoning=reasoning)
    if not store.verify(f"{dv.name}@{dv.version}"):
        raise DataError(dv.data_path, None, "does not match the data_sha256 in its manifest (changed after "
                                            "publishing?); refusing to export it")
    if name is None and is_folder_target(out):
        name = dv.name
    return export_preferences(dv.records(), fmt, out, name=name)
