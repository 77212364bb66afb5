"""Exports load with `datasets` and follow LLaMA-Factory's and TRL's conventions."""

from __future__ import annotations

import json

import pytest

from datagen.errors import ConfigError
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


def test_out_folder_gets_named_file(tmp_path):
    res = export_records(sample_records(), "alpaca", str(tmp_path / "export") + "/", name="demo")
    assert res.path == tmp_path / "export" / "demo.json" and res.path.exists()
    res = export_records(sample_records(), "messages", tmp_path / "export", name="demo")
    assert res.path == tmp_path / "export" / "demo.jsonl"
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert info["demo"]["file_name"] == "demo.jsonl"  # the last export of that name wins


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
