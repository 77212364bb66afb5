"""Readers for the seed formats users have, and the errors bad files get."""

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from datagen.cli import DatagenGroup
from datagen.errors import DataError
from datagen.io import read_jsonl_records, read_records, write_jsonl
from datagen.records import Record

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent


# -- the four formats ------------------------------------------------------------------
def test_self_instruct_seed_corpus(corpora):
    records = read_records(corpora / "self_instruct_seed_tasks.jsonl")
    tasks = {r.meta["task_id"] for r in records}
    assert len(tasks) == 175
    clf = {r.meta["task_id"] for r in records if r.meta["task_type"] == "classification"}
    assert len(clf) == 26
    first = records[0]
    assert first.id == "seed_task_0"
    assert first.instruction.startswith("Is there anything I can eat for a breakfast")
    assert first.output.startswith("Yes, you can have 1 oatmeal banana protein shake")
    assert all(r.meta["source"] == "seed" for r in records)
    assert len({r.id for r in records}) == len(records)


def test_self_instruct_instances_become_records():
    records = read_records(DATA / "self_instruct.jsonl")
    assert [(r.id, r.input, r.output) for r in records[:2]] == [
        ("seed_task_0#0", "hot", "cold"), ("seed_task_0#1", "tall", "short"),
    ]
    assert records[0].instruction == records[1].instruction == "Give the antonym of the word."
    assert records[0].meta == {"task_id": "seed_task_0", "source": "seed", "task_type": "generation"}
    assert records[2].meta["task_type"] == "classification"
    assert records[2].id == "seed_task_1"  # a single instance keeps the task id
    assert len(records) == 4


def test_alpaca_jsonl_skips_blank_lines_and_keeps_extra_fields():
    records = read_records(DATA / "alpaca.jsonl")
    assert [r.instruction for r in records] == [
        "Give three tips for staying healthy.", "Translate the sentence into French.", "把下面的句子翻译成英文。",
    ]
    assert records[1].input == "Good morning." and records[1].output == "Bonjour."
    assert records[1].extra == {"source": "handwritten"}
    assert records[1].to_dict()["source"] == "handwritten"
    assert records[2].id == "42" and records[2].meta == {"lang": "zh"}
    # no id in the file: a content id, the same on every read
    assert records[0].id == read_records(DATA / "alpaca.jsonl")[0].id and len(records[0].id) == 16


def test_alpaca_json_array():
    records = read_records(DATA / "alpaca.json")
    assert [(r.instruction, r.input, r.output) for r in records] == [
        ("Name the capital of France.", "", "Paris."),
        ("Classify the sentiment of the review.", "I loved this film.", "Positive"),
    ]


def test_messages_multi_turn():
    records = read_records(DATA / "messages.jsonl")
    conv = records[0]
    assert conv.id == "conv-1"
    assert conv.is_multi_turn
    assert conv.instruction == "What is 2 + 2?"  # first user turn
    assert conv.output == "4."  # the answer to that turn: the flat fields are the first exchange
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant", "user", "assistant"]
    zh = records[1]
    assert not zh.is_multi_turn
    assert zh.instruction == "写一首关于春天的短诗。" and zh.output == "春风拂面，花开满园。"


def test_plain_text_one_instruction_a_line():
    records = read_records(DATA / "instructions.txt")
    assert [r.instruction for r in records] == [
        "Write a haiku about autumn.", "Explain what a hash table is.", "用一句话解释什么是机器学习。",
    ]
    assert all(r.input == "" and r.output == "" for r in records)


def test_format_can_be_forced(tmp_path):
    lines = tmp_path / "seeds.lst"
    lines.write_text("Summarize the text.\nList three fruits.\n", encoding="utf-8")
    assert [r.instruction for r in read_records(lines, fmt="text")] == ["Summarize the text.", "List three fruits."]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"instruction": "Hi."}).encode() + b"\n")
    assert read_records(path)[0].instruction == "Hi."


def test_write_then_read_round_trip(tmp_path):
    records = read_records(DATA / "alpaca.jsonl") + read_records(DATA / "messages.jsonl")
    out = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(out, records) == len(records)
    assert "今天天气很好" in out.read_text(encoding="utf-8")  # not \u-escaped
    back = read_jsonl_records(out)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_failed_write_keeps_the_old_file(tmp_path):
    out = tmp_path / "out.jsonl"
    write_jsonl(out, [Record(instruction="old")])

    def rows():
        yield Record(instruction="new")
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_jsonl(out, rows())
    assert [r.instruction for r in read_jsonl_records(out)] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


# -- malformed input: one message naming file, line and problem ----------------------
@pytest.mark.parametrize(
    "name, line, problem",
    [
        ("bad_json.jsonl", 3, "invalid JSON"),
        ("missing_instruction.jsonl", 2, "missing field 'instruction'"),
        ("wrong_type.jsonl", 1, "field 'output' must be a string, got number"),
        ("bad_messages.jsonl", 1, "message 1 needs a role"),
        ("non_utf8.jsonl", 1, "not valid UTF-8"),
    ],
)
def test_malformed_fixture(name, line, problem):
    with pytest.raises(DataError) as err:
        read_records(DATA / name)
    e = err.value
    assert (Path(e.path).name, e.line) == (name, line)
    assert problem in e.problem
    assert str(e).startswith(f"{DATA / name}:{line}: ")
    assert "\n" not in str(e)


@pytest.mark.parametrize(
    "content, line, problem",
    [
        ('{"instruction": "a"}\n\n\n[1, 2]\n', 4, "expected a JSON object, got array"),
        ('{"instruction": "a"}\nnull\n', 2, "expected a JSON object, got null"),
        ('{"instruction": "a", "meta": "x"}\n', 1, "field 'meta' must be an object"),
        ('{"messages": [{"role": "user", "content": "a"}], "meta": [1]}\n', 1, "field 'meta' must be an object"),
        ('{"instruction": "   "}\n', 1, "empty 'instruction'"),
        ('{"instruction": "a", "instances": {}}\n', 1, "field 'instances' must be a list"),
        ('{"instruction": "a", "instances": [], "is_classification": "yes"}\n', 1, "true or false"),
        ('{"instruction": "a", "instances": ["x"]}\n', 1, "instance 0 is not an object"),
        ('{"messages": []}\n', 1, "non-empty list"),
        ('{"messages": [{"role": "assistant", "content": "hi"}]}\n', 1, "no user message"),
        ('{\n  "instruction": "pretty printed"\n}\n', 1, "expected JSONL (one object a line)"),
    ],
)
def test_malformed_jsonl(tmp_path, content, line, problem):
    path = tmp_path / "seeds.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_records(path)
    assert err.value.line == line
    assert problem in err.value.problem


def test_malformed_json_array_names_the_item_line(tmp_path):
    path = tmp_path / "seeds.json"
    path.write_text('[\n  {"instruction": "a"},\n\n  "oops"\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"seeds.json:4: item 2 of the array is not an object"):
        read_records(path)
    path.write_text('[\n  {"instruction": "a"},\n  {"instruction": 7}\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"seeds.json:3: field 'instruction' must be a string"):
        read_records(path)
    path.write_text('[\n  {"instruction": "a"},\n  {"instruction": "b",}\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"seeds.json:3: invalid JSON"):
        read_records(path)


@pytest.mark.parametrize("name, problem", [("empty.jsonl", "no records found"), ("missing.jsonl", "file not found")])
def test_empty_or_missing_file(name, problem):
    with pytest.raises(DataError, match=problem) as err:
        read_records(DATA / name)
    assert err.value.line is None


def test_blank_text_file_is_empty(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text("# only a comment\n\n   \n", encoding="utf-8")
    with pytest.raises(DataError, match="no records found"):
        read_records(path)


def test_directory_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_records(tmp_path)
    with pytest.raises(DataError, match="unknown format 'csv'"):
        read_records(DATA / "alpaca.jsonl", fmt="csv")


# -- at the CLI edge: exit code 2, one line, no traceback -----------------------------
@click.group(cls=DatagenGroup)
def _cli():
    pass


@_cli.command("read")
@click.argument("path")
def _read_command(path):
    click.echo(len(read_records(path)))


def test_cli_edge_turns_data_error_into_one_line():
    runner = CliRunner()
    ok = runner.invoke(_cli, ["read", str(DATA / "alpaca.jsonl")])
    assert ok.exit_code == 0 and ok.output.strip() == "3"
    bad = runner.invoke(_cli, ["read", str(DATA / "bad_json.jsonl")])
    assert bad.exit_code == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {DATA / 'bad_json.jsonl'}:3: invalid JSON")
    assert "Traceback" not in bad.output
    assert bad.stdout == ""


def _run_self_instruct_registered() -> bool:
    from datagen.cli import main

    ctx = click.Context(main)
    run = main.get_command(ctx, "run")
    return run is not None and run.get_command(ctx, "self-instruct") is not None


@pytest.mark.parametrize("name, line", [("bad_json.jsonl", 3), ("non_utf8.jsonl", 1), ("empty.jsonl", None)])
def test_datagen_command_on_malformed_seeds(tmp_path, name, line):
    """The real console entry point, in a subprocess: exit 2, one stderr line, no traceback."""
    if not _run_self_instruct_registered():
        pytest.skip("`datagen run self-instruct` is not registered in this build")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATAGEN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", "from datagen.cli import main; main()", "run", "self-instruct",
         "--seeds", str(DATA / name), "--num", "1", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
         "--out", str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    where = f"{DATA / name}:{line}:" if line else f"{DATA / name}:"
    assert where in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


# -- JSON Lines split on "\n" only (issue #18.1) ------------------------------------------
LINE_SEPARATORS = "a\x85b\u2028c\u2029d"  # JSON allows these raw in strings; splitlines() does not


def test_jsonl_rows_keep_unicode_line_separators(tmp_path):
    from datagen.io import iter_json_rows
    from datagen.io.documents import read_documents
    from datagen.io.triples import read_triples

    path = tmp_path / "seps.jsonl"
    rows = [{"instruction": f"Echo {LINE_SEPARATORS}.", "output": LINE_SEPARATORS, "text": LINE_SEPARATORS,
             "head": "h", "relation": "r", "tail": LINE_SEPARATORS},
            {"instruction": "Second.", "output": "2", "text": "two", "head": "h", "relation": "r", "tail": "t"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows), encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw, not escaped
    assert [line for line, _ in iter_json_rows(path)] == [1, 2]
    assert [r.output for r in read_records(path)] == [LINE_SEPARATORS, "2"]
    assert [r.output for r in read_jsonl_records(path)] == [LINE_SEPARATORS, "2"]
    assert [d.text for d in read_documents(path)] == [LINE_SEPARATORS, "two"]
    assert read_triples(path)[0].tail == " ".join(LINE_SEPARATORS.split())  # triples normalise whitespace


def test_text_seeds_split_on_newline_only(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text("Say a\u2028b.\r\nSecond one.\n", encoding="utf-8")
    assert [r.instruction for r in read_records(path)] == ["Say a\u2028b.", "Second one."]


def test_t0_prompts_with_nel_read_whole(corpora, tmp_path):
    import gzip

    from datagen.io import iter_json_rows

    src = corpora / "t0_prompts.jsonl.gz"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    with gzip.open(src, "rb") as fh:
        raw = [line for line in fh if "\x85".encode() in line]
    assert raw, "the T0 prompts hold IMDB reviews with raw U+0085"
    path = tmp_path / "t0_nel.jsonl"
    path.write_bytes(b"".join(raw))
    rows = [row for _, row in iter_json_rows(path)]
    assert len(rows) == len(raw) and all("\x85" in row["text"] for row in rows)


def test_a_csv_seed_file_says_csv_is_not_a_seed_format(tmp_path):
    path = tmp_path / "seeds.csv"
    path.write_text("instruction,output\nSay hi,hi\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"seeds.csv: CSV is not a seed format \(use JSONL, JSON, or .txt\)"):
        read_records(path)
