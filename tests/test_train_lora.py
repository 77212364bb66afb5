"""LoRA training end to end on a tiny random Llama that uses SmolLM2's tokenizer (about
a second a step on one CPU thread): a store version in, an adapter, report and plot out."""

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import ConfigError
from datagen.records import Record
from datagen.store import DatasetStore
from datagen.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from datagen.llm.embedded import smollm2_dir

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(smollm2_dir())
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def arithmetic(n):
    return [Record(instruction=f"What is {i} plus {i}?", output=f"{i} plus {i} is {2 * i}.") for i in range(n)]


@pytest.fixture
def store(tmp_path):
    st = DatasetStore(tmp_path / "datasets")
    st.publish("arith", arithmetic(24), [], {})
    return st


def tiny_cfg(tiny_model, out, **kw):
    base = dict(base_model=str(tiny_model), out=str(out), max_steps=6, batch_size=4, learning_rate=2e-2,
                logging_steps=1, eval_steps=3, eval_fraction=0.25, threads=1, max_length=128)
    base.update(kw)
    return TrainConfig(**base)


def test_trains_a_store_version_and_writes_adapter_report_and_plot(tiny_model, store, tmp_path):
    out = tmp_path / "adapter"
    report = train(tiny_cfg(tiny_model, out, dataset="arith", store=str(store.root)), progress=False)

    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "train_report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert not list(tmp_path.glob(".adapter.build-*"))  # the build folder was renamed into place

    version = store.resolve("arith")
    assert report["data"]["dataset"] == "arith" and report["data"]["version"] == "v0001"
    assert report["data"]["data_sha256"] == version.manifest["data_sha256"]
    assert report["data"]["train_records"] == 18 and report["data"]["eval_records"] == 6
    assert report["steps"] == 6
    curve = [p["loss"] for p in report["train_loss_curve"]]
    assert len(curve) == 6 and curve[-1] < curve[0]
    assert [p["step"] for p in report["eval_loss_curve"]] == [0, 3, 6]
    assert report["eval_loss"] < report["eval_loss_before"]
    hp = report["hyperparameters"]
    assert (hp["lora_r"], hp["lora_alpha"], hp["target_modules"], hp["precision"]) == (8, 16, ["q_proj", "v_proj"], "fp32")
    assert report["tokens_seen"] > 0 and report["tokens_per_second"] > 0 and report["peak_memory_mb"] > 0
    assert 0 < report["trainable_params"] < report["total_params"]

    from datagen.train.infer import generate, load_for_generation

    from peft import PeftModel

    model, tok = load_for_generation(adapter=out)  # the base comes from the report
    assert isinstance(model, PeftModel)
    assert isinstance(generate(model, tok, "What is 3 plus 3?", max_new_tokens=4), str)


def test_same_seed_same_losses(tiny_model, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r.to_dict()) for r in arithmetic(12)))
    runs = [train(tiny_cfg(tiny_model, tmp_path / f"a{i}", data=str(data), max_steps=2, eval_fraction=0),
                  progress=False) for i in range(2)]
    assert runs[0]["train_loss_curve"] == runs[1]["train_loss_curve"]
    assert runs[0]["eval_loss"] is None and runs[0]["eval_loss_curve"] == []


def test_multi_turn_jsonl_packing_and_merge(tiny_model, tmp_path):
    convo = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                          {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye!"}]}
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(convo | {"id": str(i)}) for i in range(8)))
    out = tmp_path / "chat-adapter"
    report = train(tiny_cfg(tiny_model, out, data=str(data), max_steps=2, eval_fraction=0, packing=True,
                            merge=True), progress=False)
    assert report["data"]["data"] == str(data) and len(report["data"]["data_sha256"]) == 64
    # packing folds the 8 short conversations into fewer max-length rows
    assert report["data"]["train_rows_after_prepare"] < 8
    assert (out / "merged" / "config.json").is_file()
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "merged").config.model_type == "llama"


def test_existing_output_is_kept_unless_overwrite(tiny_model, store, tmp_path):
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "keep.txt").write_text("previous run")
    cfg = tiny_cfg(tiny_model, out, dataset="arith", store=str(store.root), max_steps=1, eval_fraction=0)
    with pytest.raises(ConfigError, match="not empty"):
        train(cfg, progress=False)
    assert (out / "keep.txt").read_text() == "previous run"
    train(tiny_cfg(tiny_model, out, dataset="arith", store=str(store.root), max_steps=1, eval_fraction=0,
                   overwrite=True), progress=False)
    assert not (out / "keep.txt").exists() and (out / "train_report.json").is_file()


def test_unknown_target_module_is_a_config_error(tiny_model, store, tmp_path):
    cfg = tiny_cfg(tiny_model, tmp_path / "x", dataset="arith", store=str(store.root), target_modules=["c_attn"])
    with pytest.raises(ConfigError, match="c_attn"):
        train(cfg, progress=False)
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.build-*"))


def test_cli_train_then_generate(tiny_model, store, tmp_path):
    out = tmp_path / "cli-adapter"
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"train:\n  base_model: {tiny_model}\n  lora_r: 4\n  eval_fraction: 0\n  threads: 1\n")
    res = CliRunner().invoke(main, ["train", "--config", str(cfg), "--dataset", "arith@v1", "--store",
                                    str(store.root), "--out", str(out), "--max-steps", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "on arith@v0001: 2 steps" in res.output
    assert json.loads((out / "train_report.json").read_text())["hyperparameters"]["lora_r"] == 4
    res = CliRunner().invoke(main, ["generate", "--adapter", str(out), "--max-tokens", "3", "--compare", "Hi"])
    assert res.exit_code == 0, res.output
    assert "--- base model ---" in res.output and "--- with adapter ---" in res.output


@pytest.mark.parametrize("args, message", [
    (["--data", "{data}", "--base-model", "meta-llama/Llama-2-7b"], "base model not found"),
    (["--dataset", "nope", "--store", "{store}", "--base-model", "embedded"], "no dataset 'nope'"),
    (["--base-model", "embedded"], "what to train on"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "a", "output": "b"}))
    args = [a.format(data=data, store=tmp_path / "st") for a in args]
    res = CliRunner().invoke(main, ["train", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_bad_scheduler_is_a_config_error(tiny_model, store, tmp_path):
    cfg = tiny_cfg(tiny_model, tmp_path / "y", dataset="arith", store=str(store.root), lr_scheduler="zigzag")
    with pytest.raises(ConfigError, match="zigzag"):
        train(cfg, progress=False)
    assert not (tmp_path / "y").exists() and not list(tmp_path.glob(".y.build-*"))


def test_adapter_folder_has_a_model_card_real_base_id_and_umask_modes(tiny_model, store, tmp_path):
    """adapter_config names the base as the user gave it (not a cache path), README.md is a
    real model card, and files follow the umask like normal files (issue #18.9, #18.10)."""
    import os
    import stat

    out = tmp_path / "carded"
    old = os.umask(0o022)
    try:
        report = train(tiny_cfg(tiny_model, out, dataset="arith", store=str(store.root)), progress=False)
    finally:
        os.umask(old)
    conf = json.loads((out / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == str(tiny_model) == report["base_model_id"]
    card = (out / "README.md").read_text()
    assert "arith@v0001" in card and report["data"]["data_sha256"] in card
    assert f"{report['eval_loss']:.4f}" in card and "| LoRA r / alpha / dropout | 8 / 16 / 0.05 |" in card
    assert "[More Information Needed]" not in card  # peft's empty template is gone
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(out) == 0o755
    assert {p.name: mode(p) for p in out.iterdir() if p.is_file()} == {p.name: 0o644 for p in out.iterdir() if p.is_file()}


def test_cli_report_to_without_the_package_is_one_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    res = CliRunner().invoke(main, ["train", "--report-to", "tensorboard", "--base-model", "embedded",
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert res.output.strip().endswith("report_to tensorboard needs the tensorboard package: pip install tensorboard")


def test_progress_steps_log_ten_points_and_never_evaluate_every_step():
    from datagen.train.progress import eval_every, logging_every

    assert logging_every(20, 10) == 2 and logging_every(1000, 10) == 10 and logging_every(5, 10) == 1
    assert eval_every(5, None) == 2 and eval_every(100, None) == 10 and eval_every(1, None) == 1
    assert eval_every(5, 1) == 1  # asked for


def test_progress_lines_are_rounded_with_eta():
    from datagen.train.progress import eval_line, train_line

    line = train_line(3, 6, {"loss": 1.078612345, "num_tokens": 3000.0}, elapsed=6.0)
    assert line == "train: step 3/6 (50%), loss 1.079, 500 tokens/s, 6s, ETA 6s"
    assert eval_line(3, 6, {"eval_loss": 1.0786123, "eval_runtime": 0.2}) == "eval:  step 3/6, eval_loss 1.079"


def test_training_prints_progress_lines_not_bars_or_dicts(tiny_model, store, tmp_path, capsys):
    train(tiny_cfg(tiny_model, tmp_path / "adapter", dataset="arith", store=str(store.root), max_steps=2,
                   logging_steps=50, eval_steps=None), progress=True)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(("train:", "eval:"))]
    assert lines[0].startswith("eval:  before training, eval_loss ")
    assert any(ln.startswith("train: 2 steps (batch 4 x 1), logging every 1") for ln in lines)
    assert any(ln.startswith("train: step 1/2 (50%), loss ") and "ETA" in ln for ln in lines)
    assert any(ln.startswith("eval:  step 2/2, eval_loss ") for ln in lines)
    assert "{'" not in err and "%|" not in err
