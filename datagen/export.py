"""Export a dataset version for the trainers people use.

- alpaca: instruction/input/output (+ system/history when any record has them) as JSON or
  JSONL, with a LLaMA-Factory `dataset_info.json` entry beside it that loads it unchanged;
- messages: OpenAI/TRL conversational JSONL, `{"messages": [{"role", "content"}, ...]}`;
- sharegpt: LLaMA-Factory ShareGPT, `{"conversations": [{"from", "value"}], "system"}`;
- hf: `datasets.Dataset.save_to_disk` (load with `datasets.load_from_disk`).

Files are written to a temp name and renamed, so a failed export never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError
from .io import write_json, write_jsonl
from .records import Record

FORMATS = ("alpaca", "messages", "sharegpt", "hf")
SHAREGPT_ROLES = {"user": "human", "assistant": "gpt"}


@dataclass
class ExportResult:
    path: Path
    format: str
    count: int
    dataset_info: Path | None = None  # LLaMA-Factory registry written beside the file
    skipped: int = 0  # conversations LLaMA-Factory would reject (e.g. no answer)


# -- one record, several shapes -------------------------------------------------------

def conversation(r: Record) -> tuple[str, list[tuple[str, str]]]:
    """(system, [(user, assistant), ...]) for any record, single- or multi-turn."""
    if r.messages:
        system = "\n".join(m["content"] for m in r.messages if m.get("role") == "system")
        turns: list[tuple[str, str]] = []
        pending: str | None = None
        for m in r.messages:
            role, content = m.get("role"), m.get("content", "")
            if role == "user":
                # two user turns in a row are one question split in two
                pending = content if pending is None else pending + "\n" + content
            elif role == "assistant" and pending is not None:
                turns.append((pending, content))
                pending = None
        if pending is not None and not turns and r.output:
            # a prompt-only conversation whose answer is the flat output; a trailing
            # unanswered user turn after answers has nothing to pair with and is left out
            turns.append((pending, r.output))
        return system, turns
    system = r.extra.get("system") or ""
    turns = [(str(q), str(a)) for q, a in (r.extra.get("history") or [])]
    user = r.instruction + ("\n\n" + r.input if r.input else "")
    turns.append((user, r.output))
    return str(system), turns


def to_alpaca(r: Record) -> dict[str, Any]:
    if not r.messages:
        row = {"instruction": r.instruction, "input": r.input, "output": r.output}
        system, turns = conversation(r)
        history = [list(t) for t in turns[:-1]]
    else:
        system, turns = conversation(r)
        last = turns[-1] if turns else (r.instruction, r.output)
        row = {"instruction": last[0], "input": "", "output": last[1]}
        history = [list(t) for t in turns[:-1]]
    row["system"], row["history"] = system, history
    return row


def to_messages(r: Record) -> dict[str, Any]:
    system, turns = conversation(r)
    msgs = [{"role": "system", "content": system}] if system else []
    for q, a in turns:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return {"messages": msgs}


def to_sharegpt(r: Record) -> dict[str, Any]:
    system, turns = conversation(r)
    conv = []
    for q, a in turns:
        conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return {"conversations": conv, "system": system}


# -- writers --------------------------------------------------------------------------

def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if path.suffix.lower() == ".json":
        write_json(path, rows, indent=1)
    elif path.suffix.lower() == ".jsonl":
        write_jsonl(path, rows)
    else:
        raise ConfigError(f"--out {path}: use a .json or .jsonl file name")


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def dataset_info_entry(fmt: str, path: Path, columns: Iterable[str]) -> dict[str, Any]:
    """The LLaMA-Factory dataset_info.json entry that loads `path` as written."""
    cols = set(columns)
    entry: dict[str, Any] = {"file_name": path.name, "file_sha1": _sha1(path)}
    if fmt == "alpaca":
        entry["formatting"] = "alpaca"
        entry["columns"] = {"prompt": "instruction", "query": "input", "response": "output"}
        for c in ("system", "history"):
            if c in cols:
                entry["columns"][c] = c
    elif fmt == "sharegpt":
        entry["formatting"] = "sharegpt"
        entry["columns"] = {"messages": "conversations", **({"system": "system"} if "system" in cols else {})}
        entry["tags"] = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
    else:  # messages: LLaMA-Factory reads OpenAI-style rows as sharegpt with role/content tags
        entry["formatting"] = "sharegpt"
        entry["columns"] = {"messages": "messages"}
        entry["tags"] = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}
    return entry


def update_dataset_info(info_path: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace `name` in a dataset_info.json, keeping the other entries."""
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            from .errors import DataError

            raise DataError(info_path, e.lineno, f"invalid JSON: {e.msg}") from None
    info[name] = entry
    write_json(info_path, info, indent=1)


def _drop_empty_columns(rows: list[dict[str, Any]], optional: tuple[str, ...]) -> list[str]:
    """Keep an optional column only when some row uses it (then every row has it, so
    `datasets` infers one schema); returns the kept column names."""
    keep = [c for c in optional if any(row.get(c) for row in rows)]
    for row in rows:
        for c in optional:
            if c not in keep:
                row.pop(c, None)
    return keep


def _hf_rows(records: list[Record]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        system, turns = conversation(r)
        # the flat fields describe the first exchange (as data.jsonl does), `messages` the
        # whole conversation; versions written before that rule kept the last answer
        output = turns[0][1] if r.messages and turns else r.output
        rows.append({
            "id": r.id, "instruction": r.instruction, "input": r.input, "output": output,
            "system": system, "messages": to_messages(r)["messages"],
            # meta differs by generator and row: as JSON text arrow never sees clashing types
            "meta": json.dumps(r.meta, ensure_ascii=False, sort_keys=True),
        })
    return rows


def _save_hf(records: list[Record], out: Path) -> None:
    from datasets import Dataset

    if out.exists() and not (out / "state.json").exists():
        raise ConfigError(f"--out {out} exists and is not a saved datasets folder; choose a new path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        Dataset.from_list(_hf_rows(records)).save_to_disk(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_records(records: list[Record], fmt: str, out: str | Path, name: str = "datagen",
                   dataset_info: bool = True) -> ExportResult:
    """Write `records` in `fmt` to `out` (a .json/.jsonl file, or a folder that gets
    `<name>.json`); `name` is the dataset's name in dataset_info.json."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}' (choose from {', '.join(FORMATS)})")
    as_dir = str(out).endswith(("/", os.sep)) or Path(out).is_dir() or not Path(out).suffix
    out = Path(out)
    if as_dir and fmt != "hf":
        # a folder, LLaMA-Factory's data dir style: <out>/<name>.json + dataset_info.json
        out = out / f"{name}.{'jsonl' if fmt == 'messages' else 'json'}"
    if fmt == "hf":
        _save_hf(records, out)
        return ExportResult(out, fmt, len(records))
    if fmt == "alpaca":
        rows = [to_alpaca(r) for r in records]
        cols = ["instruction", "input", "output"] + _drop_empty_columns(rows, ("system", "history"))
        skipped = 0
    else:
        # a record without one (question, answer) pair has nothing to train on
        usable = [r for r in records if conversation(r)[1]]
        skipped = len(records) - len(usable)
        rows = [to_messages(r) if fmt == "messages" else to_sharegpt(r) for r in usable]
        key = "messages" if fmt == "messages" else "conversations"
        cols = [key] + (_drop_empty_columns(rows, ("system",)) if fmt == "sharegpt" else [])
    _write_rows(out, rows)
    info = None
    if dataset_info:
        info = out.parent / "dataset_info.json"
        update_dataset_info(info, name, dataset_info_entry(fmt, out, cols))
    return ExportResult(out, fmt, len(rows), info, skipped)


def export_dataset(store, ref: str, fmt: str, out: str | Path, name: str | None = None) -> ExportResult:
    """Export dataset version `ref` ("name" or "name@vN") from `store` (a DatasetStore)."""
    dv = store.resolve(ref)
    return export_records(dv.records(), fmt, out, name=name or dv.name)
