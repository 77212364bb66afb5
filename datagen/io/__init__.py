"""Read seed files in the formats real users have; write JSONL.

Formats (auto-detected per row, or forced with `fmt`):
- self-instruct: {"instruction", "instances": [{"input", "output"}], "is_classification"}
- alpaca: {"instruction", "input", "output"} as JSONL or as one JSON array
- messages: {"messages": [{"role", "content"}, ...]} (OpenAI / TRL conversational)
- sharegpt: {"conversations": [{"from", "value"}, ...], "system"} (LLaMA-Factory; roles
  human/user, gpt/assistant, system), as `datagen export --format sharegpt` writes it
- text: a .txt file with one instruction a line
Every problem is a DataError naming the file, the line and what is wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import jsonlines

from ..errors import DataError
from ..records import Record

FORMATS = ("auto", "self-instruct", "alpaca", "messages", "sharegpt", "text")
ROLES = {"system", "user", "assistant"}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, turning OS and decoding errors into DataError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, None, f"cannot read file: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(path, line, f"not valid UTF-8 (byte {e.start})") from None


def split_lines(text: str) -> list[str]:
    """Lines as JSON Lines (and a one-instruction-a-line .txt) define them: split on "\\n"
    only, a trailing "\\r" dropped. str.splitlines() also breaks on U+0085, U+2028 and
    U+2029, which JSON allows raw inside strings (ensure_ascii=False writes them so, and
    real corpora such as T0's IMDB prompts hold them): it would cut such a row in two."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def iter_json_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) from a JSONL file or a JSON array file."""
    path = Path(path)
    text = read_text(path)
    if text.lstrip().startswith("["):
        yield from _iter_json_array(path, text)
        return
    lineno = 0

    def numbered():
        # jsonlines does not report where a row came from; count the lines it consumes
        nonlocal lineno
        for lineno, line in enumerate(split_lines(text), 1):  # noqa: B007
            yield line

    reader = jsonlines.Reader(numbered())
    while True:
        try:
            row = reader.read(skip_empty=True)
        except EOFError:
            return
        except jsonlines.InvalidLineError as e:
            problem = _invalid_line_message(e)
            if lineno == 1 and _is_json_object(text):
                problem += "; expected JSONL (one object a line) or a JSON array of objects"
            raise DataError(path, e.lineno or lineno, problem) from None
        if not isinstance(row, dict):
            raise DataError(path, lineno, f"expected a JSON object, got {_json_type(row)}")
        yield lineno, row


def _invalid_line_message(e: jsonlines.InvalidLineError) -> str:
    cause = e.__cause__
    if isinstance(cause, json.JSONDecodeError):
        # the decoder's own "line 1 column 5" is relative to the row; keep only the column
        return f"invalid JSON: {cause.msg} (column {cause.colno})"
    if "null" in str(e):
        return "expected a JSON object, got null"
    return str(e).split(" (line")[0]


def _iter_json_array(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Items of a JSON array file, each with the line it starts on."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(rows, list):
        raise DataError(path, 1, f"expected a JSON array of objects, got {_json_type(rows)}")
    # the whole text is valid JSON, so walking it with raw_decode cannot fail; it
    # recovers the line of each item for error messages
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    pos = text.index("[") + 1
    for i in range(len(rows)):
        while text[pos] in ws or (i and text[pos] == ","):
            pos += 1
        line = text.count("\n", 0, pos) + 1
        row, pos = decoder.raw_decode(text, pos)
        if not isinstance(row, dict):
            raise DataError(path, line, f"item {i + 1} of the array is not an object ({_json_type(row)})")
        yield line, row


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _meta_field(path, line, row) -> dict[str, Any]:
    meta = row.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise DataError(path, line, f"field 'meta' must be an object, got {_json_type(meta)}")
    return dict(meta)


def _str_field(path, line, row, key, required=False) -> str:
    val = row.get(key)
    if val is None:
        if required:
            raise DataError(path, line, f"missing field '{key}'")
        return ""
    if not isinstance(val, str):
        raise DataError(path, line, f"field '{key}' must be a string, got {_json_type(val)}")
    return val


def detect_format(row: dict[str, Any]) -> str:
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "instances" in row:
        return "self-instruct"
    return "alpaca"


def _from_self_instruct(path, line, row) -> list[Record]:
    instruction = _str_field(path, line, row, "instruction", required=True).strip()
    if not instruction:
        raise DataError(path, line, "empty 'instruction'")
    instances = row.get("instances")
    if instances is None:
        instances = []
    if not isinstance(instances, list):
        raise DataError(path, line, "field 'instances' must be a list")
    clf = row.get("is_classification")
    if clf is not None and not isinstance(clf, bool):
        raise DataError(path, line, "field 'is_classification' must be true or false")
    task_id = str(row.get("id") or row.get("name") or f"line{line}")
    meta = {"task_id": task_id, "source": "seed"}
    if clf is not None:
        meta["task_type"] = "classification" if clf else "generation"
    out = []
    for j, inst in enumerate(instances or [{}]):
        if not isinstance(inst, dict):
            raise DataError(path, line, f"instance {j} is not an object")
        rec = Record(
            instruction=instruction,
            input=_str_field(path, line, inst, "input"),
            output=_str_field(path, line, inst, "output"),
            id=f"{task_id}" if len(instances) <= 1 else f"{task_id}#{j}",
            meta=dict(meta),
        )
        out.append(rec)
    return out


def _from_alpaca(path, line, row) -> list[Record]:
    instruction = _str_field(path, line, row, "instruction", required=True).strip()
    if not instruction:
        raise DataError(path, line, "empty 'instruction'")
    _str_field(path, line, row, "input")
    _str_field(path, line, row, "output")
    _meta_field(path, line, row)
    rec = Record.from_dict(row)
    rec.instruction = instruction
    return [rec]


def _from_messages(path, line, row) -> list[Record]:
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise DataError(path, line, "field 'messages' must be a non-empty list")
    clean = []
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise DataError(path, line, f"message {j} needs a role (system/user/assistant) and string content")
        clean.append({"role": m["role"], "content": m["content"]})
    users = [m["content"] for m in clean if m["role"] == "user"]
    answers = [m["content"] for m in clean if m["role"] == "assistant"]
    if not users:
        raise DataError(path, line, "conversation has no user message")
    extra = {k: v for k, v in row.items() if k not in ("messages", "id", "meta")}
    rec = Record(
        instruction=users[0].strip(),
        output=answers[0] if answers else "",  # the first exchange; messages hold the rest
        id=str(row.get("id") or ""),
        meta=_meta_field(path, line, row),
        messages=clean,
        extra=extra,
    )
    return [rec]


def _from_sharegpt(path, line, row) -> list[Record]:
    conv = row.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise DataError(path, line, "field 'conversations' must be a non-empty list")
    system = _str_field(path, line, row, "system")
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    for j, m in enumerate(conv):
        if not isinstance(m, dict) or m.get("from") not in SHAREGPT_ROLES or not isinstance(m.get("value"), str):
            raise DataError(path, line, f"turn {j} needs 'from' (human/gpt/system) and a string 'value'")
        msgs.append({"role": SHAREGPT_ROLES[m["from"]], "content": m["value"]})
    rest = {k: v for k, v in row.items() if k not in ("conversations", "system")}
    return _from_messages(path, line, {**rest, "messages": msgs})


_PARSERS = {"self-instruct": _from_self_instruct, "alpaca": _from_alpaca, "messages": _from_messages,
            "sharegpt": _from_sharegpt}


def read_records(path: str | Path, fmt: str = "auto") -> list[Record]:
    """Read seed/instruction records from any supported format."""
    path = Path(path)
    if fmt not in FORMATS:
        raise DataError(path, None, f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if not path.exists():
        raise DataError(path, None, "file not found")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a file")
    if path.suffix.lower() in (".csv", ".tsv") and fmt == "auto":
        raise DataError(path, None, f"{path.suffix[1:].upper()} is not a seed format (use JSONL, JSON, or .txt)")
    if fmt == "text" or (fmt == "auto" and path.suffix.lower() in (".txt", ".text")):
        records = [
            Record(instruction=line.strip(), meta={"source": "seed"})
            for line in split_lines(read_text(path))
            if line.strip() and not line.lstrip().startswith("#")
        ]
    else:
        records = []
        for line, row in iter_json_rows(path):
            kind = detect_format(row) if fmt == "auto" else fmt
            records.extend(_PARSERS[kind](path, line, row))
    if not records:
        raise DataError(path, None, "no records found (empty file?)")
    return records


def process_umask() -> int:
    """The process's umask (os.umask can only be read by setting it, so it is set back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def umask_modes(root: str | Path) -> None:
    """Give a folder tree the modes a plain mkdir/open would (0777/0666 less the umask),
    where mkdtemp, mkstemp or a library's own temp-file dance left 0700/0600."""
    mask = process_umask()
    for d, _, files in os.walk(root):
        os.chmod(d, 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(d, f), 0o666 & ~mask)


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Open `path` for writing so that readers see the old file or the whole new one:
    a temp file beside it, fsynced, renamed into place; removed on any error. The file
    gets the mode a plain open() would give it (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~process_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[Record | dict[str, Any]]) -> int:
    """Write rows to JSONL atomically (temp file + rename). Returns the row count."""
    n = 0
    with atomic_writer(path) as fh:
        with jsonlines.Writer(fh, compact=True, flush=False, dumps=_dumps) as w:
            for row in rows:
                w.write(row.to_dict() if isinstance(row, Record) else row)
                n += 1
    return n


def write_json(path: str | Path, obj: Any, indent: int = 2) -> Path:
    """Write one JSON document atomically."""
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")
    return Path(path)


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def row_to_record(path: str | Path, line: int, row: dict[str, Any]) -> Record:
    """One record from one row of a records file: Alpaca-style rows (any row with an
    `instruction`, datagen's own output included), a `messages` conversation or a
    ShareGPT `conversations` one."""
    if "instruction" in row:
        return _from_alpaca(path, line, row)[0]
    if "messages" in row:
        return _from_messages(path, line, row)[0]
    if "conversations" in row:
        return _from_sharegpt(path, line, row)[0]
    raise DataError(path, line, "a record needs an 'instruction' (or 'messages' / 'conversations')")


def read_jsonl_records(path: str | Path) -> list[Record]:
    """Read JSONL written by datagen (or any Alpaca/messages JSONL) back into Records."""
    out: list[Record] = []
    for line, row in iter_json_rows(path):
        if "instruction" not in row and "instances" in row:
            out.extend(_from_self_instruct(path, line, row))
        else:
            out.append(row_to_record(path, line, row))
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping (pipelines, filter configs) with safe_load; DataError names the file and line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "pipeline file not found")
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DataError(path, mark.line + 1 if mark else None, f"invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise DataError(path, None, "a pipeline must be a mapping with generator/llm/filters/dataset sections")
    return data
