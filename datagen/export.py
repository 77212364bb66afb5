"""Export a dataset version for the trainers people use.

- alpaca: instruction/input/output (+ system/history when any record has them) as JSON or
  JSONL, with a LLaMA-Factory `dataset_info.json` entry beside it that loads it unchanged;
- sharegpt: LLaMA-Factory ShareGPT, `{"conversations": [{"from", "value"}], "system"}`;
- messages: TRL/LLaMA-Factory conversational JSONL, `{"messages": [{"role", "content"}, ...]}`;
- openai: OpenAI fine-tuning chat JSONL (the messages shape, no dataset_info entry);
- prompt-completion: TRL's conversational prompt/completion JSONL
  (`{"prompt": [messages...], "completion": [last answer]}`), so completion-only loss
  works with any chat template;
- hf: `datasets.Dataset.save_to_disk` (load with `datasets.load_from_disk`).

Every file format trains on every turn it holds, so a record with an empty turn (or no
answer at all) is skipped and counted, never written: OpenAI's validator rejects empty
content, and LLaMA-Factory would train on an empty answer. Rows are validated against
LLaMA-Factory's rules before anything is written. Files are written to a temp name and
renamed, so a failed export never leaves half a file.
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

from .errors import ConfigError, DataError
from .io import umask_modes, write_json, write_jsonl
from .records import Record

FORMATS = ("alpaca", "sharegpt", "messages", "openai", "prompt-completion", "hf")
EXTENSIONS = {"alpaca": "json", "sharegpt": "json", "messages": "jsonl", "openai": "jsonl",
              "prompt-completion": "jsonl"}
LLAMA_FACTORY = ("alpaca", "sharegpt", "messages")  # formats that get a dataset_info.json entry
# formats whose consumers read a <think> block at the start of an assistant turn (Qwen3's and
# DeepSeek-R1's chat templates under TRL; LLaMA-Factory's ReasoningTemplate): see docs/reasoning.md
INLINE_REASONING = ("sharegpt", "messages", "prompt-completion")
SHAREGPT_ROLES = {"user": "human", "assistant": "gpt"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
MESSAGES_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"}


@dataclass
class ExportResult:
    path: Path
    format: str
    count: int
    dataset_info: Path | None = None  # LLaMA-Factory registry written beside the file
    skipped: int = 0  # records with an empty turn or no answer: nothing was written for them


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


def to_prompt_completion(r: Record) -> dict[str, Any]:
    """TRL conversational prompt/completion: everything up to the last user turn is the
    prompt, the last answer the completion (the only tokens completion-only loss trains)."""
    msgs = to_messages(r)["messages"]
    return {"prompt": msgs[:-1], "completion": msgs[-1:]}


ROW_BUILDERS = {"alpaca": to_alpaca, "sharegpt": to_sharegpt, "messages": to_messages, "openai": to_messages,
                "prompt-completion": to_prompt_completion}


# -- validation: what LLaMA-Factory, OpenAI and TRL accept ----------------------------

def complete(r: Record) -> bool:
    """The record has at least one exchange and no empty user or assistant turn."""
    _, turns = conversation(r)
    return bool(turns) and all(q.strip() and a.strip() for q, a in turns)


def conversation_problem(msgs: Any, tags: dict[str, str]) -> str | None:
    """Why LLaMA-Factory's sharegpt converter would drop `msgs` (None: it trains on it):
    after an optional system turn, roles alternate user/assistant starting with the user,
    in pairs; each message has the role and content tags; no content is empty."""
    role, content = tags["role_tag"], tags["content_tag"]
    if not isinstance(msgs, list) or not msgs:
        return "no messages"
    if not all(isinstance(m, dict) and set(m) == {role, content} for m in msgs):
        return f"every message needs exactly the keys '{role}' and '{content}'"
    if tags.get("system_tag") and msgs[0][role] == tags["system_tag"]:
        msgs = msgs[1:]
    for i, m in enumerate(msgs):
        want = tags["user_tag"] if i % 2 == 0 else tags["assistant_tag"]
        if m[role] != want:
            return f"message {i + 1} has {role} '{m[role]}', expected '{want}' (roles must alternate)"
        if not isinstance(m[content], str) or not m[content].strip():
            return f"message {i + 1} ({m[role]}) is empty"
    if len(msgs) % 2:
        return "the conversation does not end with an answer"
    return None


def row_problem(fmt: str, row: dict[str, Any]) -> str | None:
    """Why a row of `fmt` would be rejected by the trainer it is for (None: it is fine)."""
    if fmt == "alpaca":
        if not row["instruction"].strip() or not row["output"].strip():
            return "empty instruction or output"
        if any(len(t) != 2 or not all(isinstance(x, str) and x.strip() for x in t) for t in row.get("history", [])):
            return "history needs [question, answer] pairs of non-empty strings"
        return None
    if fmt == "sharegpt":
        return conversation_problem(row["conversations"], SHAREGPT_TAGS)
    if fmt == "prompt-completion":
        if not row["prompt"] or not row["completion"]:
            return "empty prompt or completion"
        return conversation_problem(row["prompt"] + row["completion"], MESSAGES_TAGS)
    return conversation_problem(row["messages"], MESSAGES_TAGS)


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
        entry["tags"] = dict(SHAREGPT_TAGS)
    else:  # messages: LLaMA-Factory reads OpenAI-style rows as sharegpt with role/content tags
        entry["formatting"] = "sharegpt"
        entry["columns"] = {"messages": "messages"}
        entry["tags"] = dict(MESSAGES_TAGS)
    return entry


def update_dataset_info(info_path: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace `name` in a dataset_info.json, keeping the other entries."""
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(info_path, e.lineno, f"invalid JSON: {e.msg}") from None
        if not isinstance(info, dict):
            raise DataError(info_path, 1, "expected a JSON object of dataset entries")
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
            "system": system, "messages": to_messages(r)["messages"], "reasoning": r.meta.get("reasoning") or "",
            # meta differs by generator and row: as JSON text arrow never sees clashing types
            "meta": json.dumps(r.meta, ensure_ascii=False, sort_keys=True),
        })
    return rows


def save_hf_rows(rows: list[dict], out: Path) -> None:
    """`datasets.Dataset.save_to_disk` of `rows` into `out`, whole or not at all (a temp
    folder renamed into place; an existing `out` must be a saved datasets folder)."""
    from datasets import Dataset

    if out.exists() and not (out / "state.json").exists():
        raise ConfigError(f"--out {out} exists and is not a saved datasets folder; choose a new path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        Dataset.from_list(rows).save_to_disk(str(tmp))
        umask_modes(tmp)  # mkdtemp made it 0700
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_folder_target(out: str | Path) -> bool:
    return str(out).endswith(("/", os.sep)) or Path(out).is_dir() or not Path(out).suffix


def with_reasoning(r: Record) -> Record:
    """`r` with its trace (meta.reasoning) inline before its answer, in <think> tags: the
    first answer, the one the trace belongs to (docs/reasoning.md)."""
    from .llm.reasoning import inline

    trace = r.meta.get("reasoning")
    if not trace:
        return r
    out = Record.from_dict(r.to_dict())
    if out.messages:
        first = next((m for m in out.messages if m.get("role") == "assistant"), None)
        if first is not None:
            first["content"] = inline(first["content"], trace)
            return out
    out.output = inline(out.output, trace)
    return out


def export_records(records: list[Record], fmt: str, out: str | Path, name: str | None = None,
                   dataset_info: bool = True, reasoning: bool | None = None) -> ExportResult:
    """Write `records` in `fmt` to `out`: a .json/.jsonl file, or a folder that gets
    `<name>_<format>.json[l]` (name default "datagen"), so several formats share a folder.
    A LLaMA-Factory format is registered in dataset_info.json beside it (other entries
    kept) under `name` for a named file (default: its stem), under the file's stem in a folder.
    `reasoning`: put each record's trace before its answer in <think> tags; None = the
    format's convention (sharegpt/messages/prompt-completion yes, alpaca/openai no; hf
    keeps it in a `reasoning` column)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}' (choose from {', '.join(FORMATS)})")
    if reasoning and fmt == "openai":
        raise ConfigError("the OpenAI fine-tuning format has no field for a reasoning trace (it trains on the "
                          "visible answer only); export openai without --with-reasoning")
    if reasoning is None:
        reasoning = fmt in INLINE_REASONING
    if reasoning and fmt != "hf":
        records = [with_reasoning(r) for r in records]
    as_dir = is_folder_target(out)
    out = Path(out)
    if fmt == "hf":
        save_hf_rows(_hf_rows(records), out)
        return ExportResult(out, fmt, len(records))
    if as_dir:
        out = out / f"{name or 'datagen'}_{fmt}.{EXTENSIONS[fmt]}"  # NAME_FORMAT: the --format value as typed
        key = out.stem
    else:
        key = name or out.stem
    if out.suffix.lower() not in (".json", ".jsonl"):
        raise ConfigError(f"--out {out}: use a .json or .jsonl file name")
    usable = [r for r in records if complete(r)]
    rows = [ROW_BUILDERS[fmt](r) for r in usable]
    for r, row in zip(usable, rows):
        problem = row_problem(fmt, row)
        if problem:  # a bug in the shapes above, caught before a trainer finds it
            raise DataError(out, None, f"record {r.id} would not load as {fmt}: {problem}; nothing written")
    cols = {"alpaca": lambda: ["instruction", "input", "output"] + _drop_empty_columns(rows, ("system", "history")),
            "sharegpt": lambda: ["conversations"] + _drop_empty_columns(rows, ("system",))}.get(fmt, lambda: [])()
    _write_rows(out, rows)
    info = None
    if dataset_info and fmt in LLAMA_FACTORY:
        info = out.parent / "dataset_info.json"
        update_dataset_info(info, key, dataset_info_entry(fmt, out, cols))
    return ExportResult(out, fmt, len(rows), info, len(records) - len(usable))


def export_dataset(store, ref: str, fmt: str, out: str | Path, name: str | None = None,
                   reasoning: bool | None = None) -> ExportResult:
    """Export dataset version `ref` ("name" or "name@vN") from `store` (a DatasetStore),
    after checking its data.jsonl still has the hash its manifest recorded."""
    dv = store.resolve(ref)
    if not store.verify(f"{dv.name}@{dv.version}"):
        raise DataError(dv.data_path, None, "does not match the data_sha256 in its manifest (changed after "
                                            "publishing?); refusing to export it")
    if name is None and is_folder_target(out):
        name = dv.name
    return export_records(dv.records(), fmt, out, name=name, reasoning=reasoning)
