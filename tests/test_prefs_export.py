"""Preference versions exported for LLaMA-Factory (ranking), TRL (DPO) and OpenAI
(preference fine-tuning) — datagen/prefs/export.py; each file loaded by its consumer's
loader where installable (datasets, TRL's data utilities), else checked against the schema."""

import json

from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore

PAIRS = [("Name a primary colour.", "Red is a primary colour.", "Green."),
         ("写一句关于春天的诗。", "春风又绿江南岸。", "春天。")]


def store_with_pairs(tmp_path) -> str:
    store = DatasetStore(tmp_path / "store")
    recs = [Record(instruction=p, output=c, meta={"generator": "prefs", "margin": 1.0},
                   extra={"prompt": p, "chosen": c, "rejected": r}) for p, c, r in PAIRS]
    with store.lock("demo-prefs"):
        store.publish("demo-prefs", recs, [], {"stage": "prefs", "generator": "prefs"})
    return str(tmp_path / "store")


def export(store, fmt, out):
    res = CliRunner().invoke(main, ["export", "demo-prefs", "--store", store, "--format", fmt, "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_llama_factory_ranking_alpaca_and_sharegpt(tmp_path):
    from datasets import load_dataset

    store = store_with_pairs(tmp_path)
    export(store, "alpaca", tmp_path / "out" / "a.json")
    export(store, "sharegpt", tmp_path / "out" / "s.json")
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    assert info["a"]["ranking"] is True and info["a"]["columns"] == {
        "prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
    assert info["s"]["ranking"] is True and info["s"]["formatting"] == "sharegpt"
    assert info["s"]["columns"] == {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
    a = load_dataset("json", data_files=str(tmp_path / "out" / "a.json"), split="train")
    assert a[1] == {"instruction": PAIRS[1][0], "input": "", "chosen": PAIRS[1][1], "rejected": PAIRS[1][2]}
    s = load_dataset("json", data_files=str(tmp_path / "out" / "s.json"), split="train")
    # LLaMA-Factory's sharegpt converter takes the pairwise branch only for message objects
    assert s[0]["conversations"] == [{"from": "human", "value": PAIRS[0][0]}]
    assert s[0]["chosen"] == {"from": "gpt", "value": PAIRS[0][1]}
    assert s[0]["rejected"] == {"from": "gpt", "value": PAIRS[0][2]}


def test_trl_dpo_conversational_rows_render_with_a_chat_template(tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from datagen.llm.embedded import smollm2_dir

    store = store_with_pairs(tmp_path)
    export(store, "messages", tmp_path / "t.jsonl")
    ds = load_dataset("json", data_files=str(tmp_path / "t.jsonl"), split="train")
    assert set(ds.column_names) == {"prompt", "chosen", "rejected"}
    row = ds[0]
    assert is_conversational(row)
    text = maybe_apply_chat_template(row, AutoTokenizer.from_pretrained(str(smollm2_dir())))
    assert PAIRS[0][0] in text["prompt"] and text["chosen"].startswith(PAIRS[0][1])
    assert text["rejected"].startswith(PAIRS[0][2])


def test_openai_preference_jsonl(tmp_path):
    store = store_with_pairs(tmp_path)
    export(store, "openai", tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[1] == {"input": {"messages": [{"role": "user", "content": PAIRS[1][0]}]},
                       "preferred_output": [{"role": "assistant", "content": PAIRS[1][1]}],
                       "non_preferred_output": [{"role": "assistant", "content": PAIRS[1][2]}]}


def test_prompt_completion_is_no_preference_format(tmp_path):
    store = store_with_pairs(tmp_path)
    res = CliRunner().invoke(main, ["export", "demo-prefs", "--store", store, "--format", "prompt-completion",
                                    "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "a preference version exports as" in res.output


def test_a_pair_from_a_conversation_keeps_its_context_in_every_format(tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl.data_utils import maybe_apply_chat_template

    from datagen.llm.embedded import smollm2_dir

    history = [["What is a prime number?", "A number with exactly two divisors."]]
    store = DatasetStore(tmp_path / "store")
    recs = [Record(instruction=p, output=c, meta={"generator": "prefs"}, extra={"prompt": p, "chosen": c, "rejected": r})
            for p, c, r in PAIRS]
    recs.append(Record(instruction="What is a prime number?", output="No: 3 divides it.", meta={"generator": "prefs"},
                       extra={"system": "You are a patient tutor.", "history": history, "prompt": "Is 9 one?",
                              "chosen": "No: 3 divides it.", "rejected": "Yes."}))
    with store.lock("demo-prefs"):
        store.publish("demo-prefs", recs, [], {"stage": "prefs", "generator": "prefs"})
    store = str(tmp_path / "store")
    export(store, "alpaca", tmp_path / "out" / "a.json")
    export(store, "sharegpt", tmp_path / "out" / "s.json")
    export(store, "messages", tmp_path / "t.jsonl")
    export(store, "openai", tmp_path / "o.jsonl")
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    assert info["a"]["columns"]["history"] == "history" and info["a"]["columns"]["system"] == "system"
    assert info["s"]["columns"]["system"] == "system"
    a = load_dataset("json", data_files=str(tmp_path / "out" / "a.json"), split="train")
    assert a[2] == {"instruction": "Is 9 one?", "input": "", "chosen": "No: 3 divides it.", "rejected": "Yes.",
                    "history": history, "system": "You are a patient tutor."}
    assert a[0]["history"] == [] and a[0]["system"] == ""  # every row has the columns
    s = load_dataset("json", data_files=str(tmp_path / "out" / "s.json"), split="train")
    assert s[2]["conversations"] == [{"from": "human", "value": history[0][0]}, {"from": "gpt", "value": history[0][1]},
                                     {"from": "human", "value": "Is 9 one?"}]
    assert s[2]["system"] == "You are a patient tutor."
    context = [{"role": "system", "content": "You are a patient tutor."},
               {"role": "user", "content": history[0][0]}, {"role": "assistant", "content": history[0][1]},
               {"role": "user", "content": "Is 9 one?"}]
    t = load_dataset("json", data_files=str(tmp_path / "t.jsonl"), split="train")
    assert t[2]["prompt"] == context
    text = maybe_apply_chat_template(t[2], AutoTokenizer.from_pretrained(str(smollm2_dir())))
    assert text["prompt"].index("patient tutor") < text["prompt"].index("exactly two divisors") \
        < text["prompt"].index("Is 9 one?")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[2]["input"]["messages"] == context
