"""`datagen filter`: rows kept unchanged, rejects with reasons, pools, one-line errors."""

import json

from click.testing import CliRunner

from datagen.cli import main


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


ROWS = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well.", "id": "a1",
     "source": "alpaca", "meta": {"k": 1}},
    {"instruction": "Give me three tips for staying healthy!", "output": "Sleep.", "id": "a2"},
    {"instruction": "Draw a picture of a cat please.", "output": "x", "id": "a3"},
    {"instruction": "Explain the theory of relativity in simple words.", "output": "y"},
    {"messages": [{"role": "user", "content": "Name three primary colors for me."},
                  {"role": "assistant", "content": "Red, yellow, blue."}], "id": "m1"},
]


def test_filter_keeps_rows_unchanged_and_writes_rejects(tmp_path):
    src, out, rej = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    write_jsonl(src, ROWS)
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--rejects", str(rej), "--no-embed"])
    assert res.exit_code == 0, res.output
    assert read_jsonl(out) == [ROWS[0], ROWS[3], ROWS[4]]  # every field as it came in
    rejects = read_jsonl(rej)
    assert [(r["reason"], r["line"], r["record"]["id"]) for r in rejects] == \
        [("rouge_dup", 2, "a2"), ("blacklist", 3, "a3")]
    assert rejects[0]["detail"]["most_similar"] == ROWS[0]["instruction"]
    assert 0.7 < rejects[0]["detail"]["rouge_l"] <= 1.0
    assert "kept 3 of 5" in res.output and "rouge_dup" in res.output


def test_filter_against_pool_and_threshold_flag(tmp_path):
    src, pool, out = tmp_path / "in.jsonl", tmp_path / "pool.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, [ROWS[3], {"instruction": "Explain the theory of relativity in very simple words.", "output": "z"}])
    write_jsonl(pool, [{"instruction": "Explain the theory of relativity in simple words.", "instances": [
        {"input": "", "output": "..."}]}])
    runner = CliRunner()
    res = runner.invoke(main, ["filter", str(src), "--out", str(out), "--against", str(pool), "--no-embed"])
    assert res.exit_code == 0, res.output
    assert read_jsonl(out) == []  # both too close to the pool (default rejects path beside --out)
    assert len(read_jsonl(tmp_path / "out.rejects.jsonl")) == 2
    res = runner.invoke(main, ["filter", str(src), "--out", str(out), "--rouge", "0.99", "--no-embed"])
    assert res.exit_code == 0 and len(read_jsonl(out)) == 2


def test_filter_config_yaml(tmp_path):
    src, out, cfg = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "f.yaml"
    write_jsonl(src, ROWS)
    cfg.write_text("filters:\n  blacklist: []\n  rouge: null\n  embed: null\n")
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert len(read_jsonl(out)) == 5
    cfg.write_text("filters:\n  rogue: 0.5\n")
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--config", str(cfg)])
    assert res.exit_code == 2 and "unknown key 'rogue'" in res.output


def test_chinese_input_detected(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, [{"instruction": "请介绍一下高血压的常见症状和治疗方法。", "output": "a"},
                      {"instruction": "请介绍一下高血压的常见症状和治疗方法。", "output": "b"},
                      {"instruction": "如何预防流行性感冒？请给出建议。", "output": "c"}])
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--no-embed"])
    assert res.exit_code == 0, res.output
    assert [r["output"] for r in read_jsonl(out)] == ["a", "c"]
    assert "(zh" in res.output


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"instruction": "Fine instruction here please."}\n{"instruction": 5}\n')
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--no-embed"])
    assert res.exit_code == 2
    assert "in.jsonl:2" in res.output and "Traceback" not in res.output
    assert not out.exists()
    src.write_text('{"instruction": "ok"\n')
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out)])
    assert res.exit_code == 2 and "in.jsonl:1" in res.output
    res = CliRunner().invoke(main, ["filter", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert res.exit_code == 2 and "not found" in res.output
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--rouge", "7"])
    assert res.exit_code == 2 and "between 0 and 1" in res.output


def test_instances_of_one_task_are_not_duplicates_of_each_other(tmp_path):
    """Self-Instruct writes one record per instance: dedup is on the instruction across
    tasks, so a task's instances stay; an exact repeat of one instance does not."""
    task = "Sort the numbers from smallest to largest."
    rows = [{"instruction": task, "input": inp, "output": out, "meta": {"task_id": "t1"}}
            for inp, out in [("3, 1, 2", "1, 2, 3"), ("9, 7", "7, 9"), ("5, 4, 6", "4, 5, 6")]]
    rows += [{"instruction": task, "input": "9, 7", "output": "7, 9"},                    # exact repeat
             {"instruction": "Sort these numbers from smallest to largest!", "input": "2, 1", "output": "1, 2"},
             {"instruction": "Name the capital of France.", "input": "", "output": "Paris."}]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, rows)
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--no-embed"])
    assert res.exit_code == 0, res.output
    assert read_jsonl(out) == [rows[0], rows[1], rows[2], rows[5]]
    rejects = read_jsonl(tmp_path / "out.rejects.jsonl")
    assert [(r["reason"], r["line"]) for r in rejects] == [("duplicate_instance", 4), ("rouge_dup", 5)]


def test_filter_help_says_what_deduplication_compares():
    res = CliRunner().invoke(main, ["filter", "--help"])
    assert "instances of one task" in " ".join(res.output.split())


def test_filter_flags_are_filter_config_fields_as_run_has_them():
    """`datagen filter` and `datagen run` take the same filter flags: FilterConfig's fields."""
    import dataclasses

    from datagen.filters import FilterConfig

    runner = CliRunner()
    help_filter = runner.invoke(main, ["filter", "--help"], terminal_width=200).output
    help_run = runner.invoke(main, ["run", "self-instruct", "--help"], terminal_width=200).output
    for f in dataclasses.fields(FilterConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.metadata.get("cli", True) is False:
            assert flag + " " not in help_filter
            continue
        assert flag in help_filter and flag in help_run, flag
        assert " ".join(f.metadata["help"].split()[:4]) in " ".join(help_filter.split()), flag
    assert "--no-rouge" in help_filter and "--no-embed" in help_filter


def test_filter_flag_errors_name_the_flag(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, ROWS)
    res = CliRunner().invoke(main, ["filter", str(src), "--out", str(out), "--rouge", "1.5"])
    assert res.exit_code == 2 and "--rouge" in res.output and "Traceback" not in res.output
    assert not out.exists()
