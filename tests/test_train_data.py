"""Turning records into chat-template tokens with the loss on assistant turns only,
the held-out split, TrainConfig and base-model resolution. No model weights are loaded:
only the embedded SmolLM2's tokenizer."""

import pytest

from datagen.config import from_dict
from datagen.errors import ConfigError, DataError
from datagen.records import Record
from datagen.train import TrainConfig
from datagen.train.data import build_dataset, record_messages, split_records, tokenize_conversation
from datagen.train.model import resolve_base_model


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from datagen.llm.embedded import smollm2_dir

    return AutoTokenizer.from_pretrained(smollm2_dir())


def masked_text(tok, row):
    return tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"]) if m])


def test_alpaca_record_becomes_one_user_and_one_assistant_turn():
    rec = Record(instruction="Translate to French.", input="Good morning", output="Bonjour")
    assert record_messages(rec) == [
        {"role": "user", "content": "Translate to French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]
    assert record_messages(rec, system="Be brief.")[0] == {"role": "system", "content": "Be brief."}


def test_record_without_an_answer_is_not_trained_on():
    assert record_messages(Record(instruction="Say hi", output="   ")) is None
    assert record_messages(Record(instruction="q", messages=[{"role": "user", "content": "q"}])) is None


def test_single_turn_mask_matches_trl_prompt_completion(tok):
    """Our mask equals what TRL's prompt/completion path trains on: everything after the
    tokenized prompt with its generation prompt."""
    msgs = record_messages(Record(instruction="Name a primary colour.", output="Red."))
    row = tokenize_conversation(tok, msgs)
    prompt_ids = tok.apply_chat_template(msgs[:1], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    full_ids = tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    assert row["input_ids"] == list(full_ids)
    assert row["assistant_masks"] == [0] * len(prompt_ids) + [1] * (len(full_ids) - len(prompt_ids))
    assert masked_text(tok, row) == "Red.<|im_end|>\n"


def test_multi_turn_masks_every_assistant_turn_and_nothing_else(tok):
    msgs = [
        {"role": "system", "content": "You answer tersely."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]
    row = tokenize_conversation(tok, msgs)
    assert masked_text(tok, row) == "Paris.<|im_end|>\nRome.<|im_end|>\n"
    unmasked = tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"]) if not m])
    assert "Capital of France?" in unmasked and "And of Italy?" in unmasked and "tersely" in unmasked


def test_chinese_answer_is_masked_whole(tok):
    msgs = record_messages(Record(instruction="中国的首都是哪里？", output="北京。"))
    assert masked_text(tok, tokenize_conversation(tok, msgs)) == "北京。<|im_end|>\n"


def test_build_dataset_skips_records_without_answers(tok):
    recs = [Record(instruction="a", output="b"), Record(instruction="c", output="")]
    ds, skipped = build_dataset(tok, recs)
    assert len(ds) == 1 and skipped == 1
    assert set(ds.column_names) == {"input_ids", "assistant_masks"}
    with pytest.raises(DataError, match="no record has an assistant answer"):
        build_dataset(tok, [Record(instruction="c", output="")], where="x.jsonl")


def test_split_is_seeded_disjoint_and_keeps_a_train_side():
    recs = [Record(instruction=f"task {i}", output=str(i)) for i in range(20)]
    tr, ev = split_records(recs, 0.2, seed=1)
    assert len(ev) == 4 and len(tr) == 16
    assert {r.id for r in tr}.isdisjoint({r.id for r in ev})
    assert [r.id for r in split_records(recs, 0.2, seed=1)[1]] == [r.id for r in ev]
    assert [r.id for r in split_records(recs, 0.2, seed=2)[1]] != [r.id for r in ev]
    assert split_records(recs[:1], 0.5, seed=1) == (recs[:1], [])
    assert len(split_records(recs[:2], 0.9, seed=1)[0]) == 1
    assert split_records(recs, 0.0, seed=1)[1] == []


def test_train_config_rejects_unknown_and_bad_values():
    with pytest.raises(ConfigError, match="unknown key 'lora_rank'"):
        from_dict(TrainConfig, {"lora_rank": 8}, "train")
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="int3")
    with pytest.raises(ConfigError, match="not both"):
        TrainConfig(dataset="d", data="x.jsonl")
    with pytest.raises(ConfigError, match="what to train on"):
        TrainConfig().require_input()
    cfg = from_dict(TrainConfig, {"target_modules": "q_proj, k_proj,v_proj", "max_steps": 5}, "train")
    assert cfg.target_modules == ["q_proj", "k_proj", "v_proj"] and cfg.max_steps == 5
    # the defaults are HuaTuo's LoRA settings
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (8, 16, 0.05)


def test_base_model_must_be_local(tmp_path):
    with pytest.raises(ConfigError, match="base model not found: HuggingFaceTB/SmolLM2-135M.*nothing is downloaded"):
        resolve_base_model("HuggingFaceTB/SmolLM2-135M")
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_base_model(str(tmp_path))
    (tmp_path / "m.gguf").write_bytes(b"")
    base = resolve_base_model(str(tmp_path / "m.gguf"))
    assert base.folder == tmp_path and base.gguf_file == "m.gguf"


def test_alpaca_system_and_history_are_trained_on():
    """LLaMA-Factory's system/history columns, which `datagen export` writes, become the
    system turn and the turns before the instruction (issue #18.9)."""
    rec = Record(instruction="And plus one?", output="5.",
                 extra={"system": "You are terse.", "history": [["What is 2+2?", "4."]]})
    assert record_messages(rec, system="ignored: the record has its own") == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And plus one?"}, {"role": "assistant", "content": "5."}]
    with pytest.raises(DataError, match="history"):
        record_messages(Record(instruction="q", output="a", extra={"history": ["not a pair"]}))


def test_an_exported_alpaca_file_trains_like_the_conversation_it_came_from(tmp_path, tok):
    from datagen.export import export_records
    from datagen.io import read_records

    conv = Record(instruction="What is 2+2?", output="4.", messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."}, {"role": "user", "content": "And plus one?"},
        {"role": "assistant", "content": "5."}])
    export_records([conv], "alpaca", tmp_path / "a.json")
    back = read_records(tmp_path / "a.json")[0]
    assert record_messages(back) == record_messages(conv)
    row = tokenize_conversation(tok, record_messages(back))
    assert "4." in masked_text(tok, row) and "5." in masked_text(tok, row)


def test_report_to_needs_its_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("tensorboard", "wandb")
                        else real(name, *a))
    with pytest.raises(ConfigError, match="report_to tensorboard needs the tensorboard package: pip install tensorboard"):
        TrainConfig(report_to="tensorboard")
    with pytest.raises(ConfigError, match="report_to: must be one of 'none', 'tensorboard', 'wandb'"):
        TrainConfig(report_to="mlflow")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "wandb" else real(name, *a))
    assert TrainConfig(report_to="wandb").report_to == "wandb"
    assert TrainConfig().report_to == "none"


def test_adapter_config_records_the_base_models_id(tmp_path):
    import json
    from pathlib import Path

    from datagen.train.fit import record_base_model
    from datagen.train.model import SMOLLM2_ID, BaseModel

    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/root/.cache/x", "r": 8}))
    record_base_model(tmp_path, BaseModel("embedded", Path("/root/.cache/x")))
    conf = json.loads((tmp_path / "adapter_config.json").read_text())
    assert conf == {"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 8}
    assert BaseModel("models/my-llama", Path("models/my-llama")).hub_id == "models/my-llama"
    assert resolve_base_model(SMOLLM2_ID).spec == "embedded"  # so `generate` finds the base from the config
