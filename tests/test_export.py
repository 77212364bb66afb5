"""Exports load with `datasets` and follow LLaMA-Factory's and TRL's conventions."""

from __future__ import annotations

import json

import pytest

from datagen.errors import ConfigError, DataError
from datagen.export import export_dataset, export_records, to_alpaca, to_messages, to_sharegpt
from datagen.records import Record
from datagen.store import DatasetStore


def sample_records():
    return [
        Record(instruction="Give three tips for staying healthy.", output="Eat well, sleep, move.",
               meta={"source": "seed", "task_type": "generation"}),
        Record(instruction="Classify the sentiment.", input="I loved it!", output="positive",
               meta={"task_type": "classification", "score": 0.9}),
        Record(instruction="把这句话翻译成英文。", input="你好，世界", output="Hello, world",
               meta={"lang": "zh", "rouge": [0.1, 0.2]}),
        Record(instruction="What is 2+2?", output="It is 5.",
               messages=[{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": "What is 2+2?"},
                         {"role": "assistant", "content": "4."},
                         {"role": "user", "content": "And plus one?"},
                         {"role": "assistant", "content": "5."}]),
    ]


# LLaMA-Factory's converters, restated: what a row must look like for it to train on it

def lf_alpaca(example, columns):
    prompt = []
    hist = columns.get("history")
    if hist and isinstance(example[hist], list):
        for q, a in example[hist]:
            prompt += [("user", q), ("assistant", a)]
    query = [example[columns[c]] for c in ("prompt", "query") if example[columns[c]]]
    prompt.append(("user", "\n".join(query)))
    assert isinstance(example[columns["response"]], str)
    system = example[columns["system"]] if columns.get("system") else ""
    return system, prompt, example[columns["response"]]


def lf_sharegpt(example, entry):
    cols, tags = entry["columns"], entry.get("tags", {})
    role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    user, assistant = tags.get("user_tag", "human"), tags.get("assistant_tag", "gpt")
    system_tag = tags.get("system_tag")
    msgs = example[cols.get("messages", "conversations")]
    system = example[cols["system"]] if cols.get("system") else ""
    if system_tag and msgs and msgs[0][role] == system_tag:
        system, msgs = msgs[0][content], msgs[1:]
    for i, m in enumerate(msgs):
        assert m[role] == (user if i % 2 == 0 else assistant), msgs
    assert len(msgs) % 2 == 0 and msgs
    return system, [m[content] for m in msgs]


def load_json(path, tmp_path):
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def test_record_shapes():
    single, with_input, _, multi = sample_records()
    assert to_alpaca(with_input) == {"instruction": "Classify the sentiment.", "input": "I loved it!",
                                     "output": "positive", "system": "", "history": []}
    assert to_alpaca(multi) == {"instruction": "And plus one?", "input": "", "output": "5.",
                                "system": "You are terse.", "history": [["What is 2+2?", "4."]]}
    assert to_messages(with_input)["messages"] == [
        {"role": "user", "content": "Classify the sentiment.\n\nI loved it!"},
        {"role": "assistant", "content": "positive"}]
    assert [m["role"] for m in to_messages(multi)["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert to_sharegpt(single) == {"conversations": [{"from": "human", "value": single.instruction},
                                                     {"from": "gpt", "value": single.output}], "system": ""}


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_alpaca_loads_in_datasets_and_llama_factory(tmp_path, suffix):
    out = tmp_path / "lf" / f"demo.{suffix}"
    res = export_records(sample_records(), "alpaca", out, name="demo")
    info = json.loads(res.dataset_info.read_text())
    entry = info["demo"]
    assert entry["file_name"] == out.name and entry["formatting"] == "alpaca"
    assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output",
                                "system": "system", "history": "history"}
    ds = load_json(out, tmp_path)
    assert len(ds) == 4 and set(ds.column_names) == {"instruction", "input", "output", "system", "history"}
    converted = [lf_alpaca(ex, entry["columns"]) for ex in ds]
    assert converted[1] == ("", [("user", "Classify the sentiment.\nI loved it!")], "positive")
    assert converted[2][1] == [("user", "把这句话翻译成英文。\n你好，世界")]
    assert converted[3] == ("You are terse.", [("user", "What is 2+2?"), ("assistant", "4."),
                                               ("user", "And plus one?")], "5.")


def test_alpaca_without_system_or_history_has_plain_columns(tmp_path):
    out = tmp_path / "plain.jsonl"
    res = export_records(sample_records()[:3], "alpaca", out, name="plain")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(set(r) == {"instruction", "input", "output"} for r in rows)
    assert "system" not in json.loads(res.dataset_info.read_text())["plain"]["columns"]


def test_sharegpt_matches_llama_factory(tmp_path):
    out = tmp_path / "sg.json"
    res = export_records(sample_records(), "sharegpt", out, name="sg")
    entry = json.loads(res.dataset_info.read_text())["sg"]
    assert entry["formatting"] == "sharegpt" and entry["columns"] == {"messages": "conversations", "system": "system"}
    ds = load_json(out, tmp_path)
    convs = [lf_sharegpt(ex, entry) for ex in ds]
    assert convs[3] == ("You are terse.", ["What is 2+2?", "4.", "And plus one?", "5."])
    assert convs[1][1] == ["Classify the sentiment.\n\nI loved it!", "positive"]


def test_messages_is_trl_conversational_and_llama_factory_loadable(tmp_path):
    out = tmp_path / "msgs.jsonl"
    unanswered = Record(instruction="Hi?", messages=[{"role": "user", "content": "Hi?"}])
    res = export_records(sample_records() + [unanswered], "messages", out, name="msgs")
    assert res.count == 4 and res.skipped == 1
    ds = load_json(out, tmp_path)
    assert ds.column_names == ["messages"]
    for ex in ds:
        roles = [m["role"] for m in ex["messages"] if m["role"] != "system"]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
    entry = json.loads(res.dataset_info.read_text())["msgs"]
    assert lf_sharegpt(ds[3], entry) == ("You are terse.", ["What is 2+2?", "4.", "And plus one?", "5."])


def test_hf_save_to_disk_round_trips(tmp_path):
    from datasets import load_from_disk

    out = tmp_path / "hfds"
    export_records(sample_records(), "hf", out)
    ds = load_from_disk(str(out))
    assert len(ds) == 4 and ds[2]["instruction"] == "把这句话翻译成英文。"
    assert json.loads(ds[1]["meta"]) == {"score": 0.9, "task_type": "classification"}
    assert ds[3]["messages"][0] == {"role": "system", "content": "You are terse."}
    export_records(sample_records()[:2], "hf", out)  # re-export replaces it
    assert len(load_from_disk(str(out))) == 2
    (tmp_path / "notds").mkdir()
    with pytest.raises(ConfigError, match="not a saved datasets folder"):
        export_records(sample_records(), "hf", tmp_path / "notds")


def test_store_data_jsonl_loads_with_datasets_as_is(tmp_path):
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        dv = store.publish("demo", sample_records(), [{"reason": "r", "record": {"instruction": "x"}}], {})
    ds = load_json(dv.data_path, tmp_path)
    assert len(ds) == 4 and {"instruction", "input", "output", "id", "meta"} <= set(ds.column_names)
    assert ds[1]["input"] == "I loved it!"


def test_export_dataset_from_store_and_dataset_info_merge(tmp_path):
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        store.publish("demo", sample_records(), [], {})
    info = tmp_path / "lf" / "dataset_info.json"
    info.parent.mkdir()
    info.write_text(json.dumps({"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}))
    res = export_dataset(store, "demo@v1", "alpaca", tmp_path / "lf" / "demo.json")
    assert res.count == 4
    assert set(json.loads(info.read_text())) == {"alpaca_en_demo", "demo"}


def test_formats_in_one_folder_get_their_own_files_and_dataset_info_entries(tmp_path):
    """alpaca and sharegpt used to both write <name>.json, and the second replaced the first
    and its dataset_info entry (issue #18.6)."""
    folder = tmp_path / "export"
    paths = {fmt: export_records(sample_records(), fmt, str(folder) + "/", name="demo").path
             for fmt in ("alpaca", "sharegpt", "messages", "openai", "prompt-completion")}
    assert {f: p.name for f, p in paths.items()} == {
        "alpaca": "demo_alpaca.json", "sharegpt": "demo_sharegpt.json", "messages": "demo_messages.jsonl",
        "openai": "demo_openai.jsonl", "prompt-completion": "demo_prompt-completion.jsonl"}  # NAME_FORMAT, as docs/datasets.md says
    info = json.loads((folder / "dataset_info.json").read_text())
    assert {k: v["file_name"] for k, v in info.items()} == {
        "demo_alpaca": "demo_alpaca.json", "demo_sharegpt": "demo_sharegpt.json", "demo_messages": "demo_messages.jsonl"}
    assert info["demo_alpaca"]["formatting"] == "alpaca" and info["demo_sharegpt"]["formatting"] == "sharegpt"
    assert lf_sharegpt(json.loads(paths["sharegpt"].read_text())[3], info["demo_sharegpt"])[1][-1] == "5."
    assert "instruction" in json.loads(paths["alpaca"].read_text())[0]


def test_named_files_in_one_folder_register_under_their_stems(tmp_path):
    export_records(sample_records(), "alpaca", tmp_path / "a.json")
    export_records(sample_records(), "sharegpt", tmp_path / "b.json")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert {k: v["formatting"] for k, v in info.items()} == {"a": "alpaca", "b": "sharegpt"}


def test_openai_chat_jsonl_skips_empty_turns(tmp_path):
    """OpenAI's validator rejects a message without content: such a conversation is left
    out and counted, never sent half (issue #18.6)."""
    empty_answer = Record(instruction="Q1", output="A1", messages=[
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"}, {"role": "assistant", "content": ""}])
    res = export_records(sample_records() + [empty_answer, Record("Empty output.")], "openai", tmp_path / "o.jsonl")
    assert (res.count, res.skipped, res.dataset_info) == (4, 2, None)
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    for row in rows:  # what openai's chat fine-tuning format check asks of each example
        assert set(row) == {"messages"}
        assert all(set(m) == {"role", "content"} and m["role"] in ("system", "user", "assistant")
                   and isinstance(m["content"], str) and m["content"] for m in row["messages"])
        assert any(m["role"] == "assistant" for m in row["messages"])
    assert rows[3]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_prompt_completion_for_trl(tmp_path):
    res = export_records(sample_records(), "prompt-completion", tmp_path / "pc.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "pc.jsonl").read_text().splitlines()]
    assert res.count == 4 and all(set(r) == {"prompt", "completion"} for r in rows)
    assert rows[1] == {"prompt": [{"role": "user", "content": "Classify the sentiment.\n\nI loved it!"}],
                       "completion": [{"role": "assistant", "content": "positive"}]}
    assert [m["content"] for m in rows[3]["prompt"]] == ["You are terse.", "What is 2+2?", "4.", "And plus one?"]
    assert rows[3]["completion"] == [{"role": "assistant", "content": "5."}]
    ds = load_json(tmp_path / "pc.jsonl", tmp_path)  # TRL loads it with datasets as is
    assert ds.column_names == ["prompt", "completion"]


def test_bad_format_and_suffix(tmp_path):
    with pytest.raises(ConfigError, match="unknown export format"):
        export_records(sample_records(), "csv", tmp_path / "x.csv")
    with pytest.raises(ConfigError, match=".json or .jsonl"):
        export_records(sample_records(), "alpaca", tmp_path / "x.txt")
    assert not list(tmp_path.iterdir())


def test_multi_turn_flat_fields_are_the_first_exchange(tmp_path):
    """hf rows pair the first user turn with its own answer, never with the last turn's
    (issue #18.3); `messages` keeps the whole conversation."""
    from datasets import load_from_disk

    multi = sample_records()[3]  # written as older versions did: output = the last answer
    export_records([multi], "hf", tmp_path / "hfds")
    row = load_from_disk(str(tmp_path / "hfds"))[0]
    assert (row["instruction"], row["output"]) == ("What is 2+2?", "4.")
    assert [m["content"] for m in row["messages"]][-1] == "5."


# -- validated before writing (issue #18.7) -------------------------------------------

def test_conversation_rules_are_llama_factorys():
    from datagen.export import MESSAGES_TAGS, SHAREGPT_TAGS, conversation_problem

    def sg(*pairs):
        return [{"from": f, "value": v} for f, v in pairs]

    assert conversation_problem(sg(("human", "q"), ("gpt", "a")), SHAREGPT_TAGS) is None
    assert "alternate" in conversation_problem(sg(("human", "q"), ("human", "q2")), SHAREGPT_TAGS)
    assert "alternate" in conversation_problem(sg(("gpt", "a"), ("human", "q")), SHAREGPT_TAGS)
    assert "alternate" in conversation_problem(sg(("user", "q"), ("gpt", "a")), SHAREGPT_TAGS)  # tags must match
    assert "end with an answer" in conversation_problem(sg(("human", "q"), ("gpt", "a"), ("human", "q2")),
                                                        SHAREGPT_TAGS)
    assert "empty" in conversation_problem(sg(("human", "q"), ("gpt", " ")), SHAREGPT_TAGS)
    assert "keys" in conversation_problem([{"from": "human", "content": "q"}], SHAREGPT_TAGS)
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert conversation_problem(msgs, MESSAGES_TAGS) is None
    assert "alternate" in conversation_problem(msgs[1:2] + msgs[:1] + msgs[2:], MESSAGES_TAGS)  # system mid-way


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages"])
def test_records_with_empty_turns_are_skipped_not_written(tmp_path, fmt):
    bad = [Record("Say nothing."),  # empty output
           Record("Q", output="A", messages=[{"role": "user", "content": ""}, {"role": "assistant", "content": "A"}])]
    res = export_records(sample_records() + bad, fmt, tmp_path / f"x.{'jsonl' if fmt == 'messages' else 'json'}")
    assert (res.count, res.skipped) == (4, 2)


def test_a_row_that_breaks_the_rules_writes_nothing(tmp_path, monkeypatch):
    import datagen.export as ex

    monkeypatch.setitem(ex.ROW_BUILDERS, "sharegpt",
                        lambda r: {"conversations": [{"from": "gpt", "value": r.output}], "system": ""})
    with pytest.raises(DataError, match="would not load as sharegpt"):
        export_records(sample_records(), "sharegpt", tmp_path / "sg.json")
    assert not list(tmp_path.iterdir())


def test_export_refuses_a_version_whose_data_changed(tmp_path):
    from click.testing import CliRunner

    from datagen.cli import main

    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        dv = store.publish("demo", sample_records(), [], {})
    args = ["export", "demo", "--format", "alpaca", "--out", str(tmp_path / "out") + "/", "--store", str(tmp_path / "store")]
    assert CliRunner().invoke(main, args).exit_code == 0
    dv.data_path.chmod(0o644)
    with dv.data_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"instruction": "smuggled in", "output": "x"}) + "\n")
    res = CliRunner().invoke(main, args[:-2] + ["--out", str(tmp_path / "out2") + "/"] + args[-2:])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and "data_sha256" in res.output
    assert not (tmp_path / "out2").exists()


# -- datagen reads its own exports back (issue #18.8) ---------------------------------

def test_sharegpt_export_reads_back(tmp_path):
    from datagen.io import read_jsonl_records, read_records

    out = tmp_path / "sg.json"
    export_records(sample_records(), "sharegpt", out)
    back = read_records(out)
    assert [to_sharegpt(r) for r in back] == [to_sharegpt(r) for r in sample_records()]
    assert back[3].messages[0] == {"role": "system", "content": "You are terse."} and back[3].is_multi_turn
    assert (back[3].instruction, back[3].output) == ("What is 2+2?", "4.")
    assert (back[1].instruction, back[1].output) == ("Classify the sentiment.\n\nI loved it!", "positive")
    again = tmp_path / "again.json"
    export_records(back, "sharegpt", again)
    assert again.read_bytes() == out.read_bytes()
    jl = tmp_path / "sg.jsonl"
    export_records(sample_records(), "sharegpt", jl)
    assert [to_sharegpt(r) for r in read_jsonl_records(jl)] == [to_sharegpt(r) for r in sample_records()]


def test_alpaca_export_with_system_and_history_reads_back(tmp_path):
    from datagen.io import read_records

    out = tmp_path / "a.json"
    export_records(sample_records(), "alpaca", out)
    again = tmp_path / "b.json"
    export_records(read_records(out), "alpaca", again)
    assert json.loads(again.read_text()) == json.loads(out.read_text())


def test_bad_sharegpt_rows_name_the_line(tmp_path):
    from datagen.io import read_records

    path = tmp_path / "bad.jsonl"
    path.write_text('{"conversations": [{"from": "human", "value": "q"}]}\n'
                    '{"conversations": [{"from": "robot", "value": "q"}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2: turn 0 needs 'from'"):
        read_records(path)


# -- modes follow the umask (issue #18.9) ---------------------------------------------

def test_exports_respect_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        res = export_records(sample_records(), "alpaca", tmp_path / "lf" / "demo.json")
        export_records(sample_records(), "hf", tmp_path / "hfds")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(res.path) == mode(res.dataset_info) == 0o644
    assert mode(tmp_path / "hfds") == 0o755
    assert all(mode(p) == 0o644 for p in (tmp_path / "hfds").iterdir())


# -- reasoning traces (docs/reasoning.md) ------------------------------------------------
def _thinking_records():
    from datagen.records import Record

    return [Record(instruction="What is 2 + 2?", output="4", meta={"reasoning": "Two plus two is four."}),
            Record(instruction="Name a primary colour.", output="Red.")]


def test_reasoning_goes_inline_where_the_consumer_reads_think_tags(tmp_path):
    from datasets import load_dataset

    recs = _thinking_records()
    export_records(recs, "sharegpt", tmp_path / "sg.json")
    export_records(recs, "messages", tmp_path / "m.jsonl")
    sg = load_dataset("json", data_files=str(tmp_path / "sg.json"), split="train")
    msgs = load_dataset("json", data_files=str(tmp_path / "m.jsonl"), split="train")
    want = "<think>\nTwo plus two is four.\n</think>\n\n4"
    assert sg[0]["conversations"][1]["value"] == want and sg[1]["conversations"][1]["value"] == "Red."
    assert msgs[0]["messages"][1] == {"role": "assistant", "content": want}


def test_openai_and_alpaca_leave_the_trace_out_unless_asked(tmp_path):
    recs = _thinking_records()
    export_records(recs, "openai", tmp_path / "o.jsonl")
    assert "think" not in (tmp_path / "o.jsonl").read_text()
    with pytest.raises(ConfigError, match="no field for a reasoning trace"):
        export_records(recs, "openai", tmp_path / "o2.jsonl", reasoning=True)
    export_records(recs, "alpaca", tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())[0]["output"] == "4"
    export_records(recs, "alpaca", tmp_path / "b.json", reasoning=True)
    assert json.loads((tmp_path / "b.json").read_text())[0]["output"].startswith("<think>\nTwo plus two")
    export_records(recs, "messages", tmp_path / "plain.jsonl", reasoning=False)
    assert "<think>" not in (tmp_path / "plain.jsonl").read_text()


def test_hf_export_keeps_the_trace_in_its_own_column(tmp_path):
    from datasets import load_from_disk

    export_records(_thinking_records(), "hf", tmp_path / "hf")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert ds[0]["reasoning"] == "Two plus two is four." and ds[0]["output"] == "4" and ds[1]["reasoning"] == ""
