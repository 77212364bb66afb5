"""`datagen train --method dpo` (datagen/train/dpo.py): TRL's DPOTrainer with LoRA on a
preference version, from the base or from an SFT adapter."""

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore
from datagen.train import TrainConfig, train
from test_train_lora import arithmetic, tiny_cfg, tiny_model  # noqa: F401 - the fixture

PATTERN = "Certainly! "
TOPICS = ["the sea", "a mountain", "bread", "the moon", "a river", "winter", "a library", "music", "a garden",
          "the wind", "coffee", "a bridge", "snow", "a forest", "the sun", "a train"]
HELD_OUT = ["a lighthouse", "autumn", "a violin"]


def pair(topic: str) -> Record:
    prompt = f"Write one sentence about {topic}."
    answer = f"Here is a sentence about {topic}."
    return Record(instruction=prompt, output=PATTERN + answer, meta={"generator": "prefs"},
                  extra={"prompt": prompt, "chosen": PATTERN + answer, "rejected": answer})


def prefs_store(tmp_path) -> DatasetStore:
    st = DatasetStore(tmp_path / "datasets")
    st.publish("pat-prefs", [pair(t) for t in TOPICS], [], {"stage": "prefs"})
    return st


def pattern_preference(model, tok, topics) -> float:
    """Mean log p(PATTERN + answer) - log p(answer), each given its prompt."""
    import torch

    def logp(prompt: str, answer: str) -> float:
        head = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                       tokenize=False)
        p_ids = tok(head, add_special_tokens=False)["input_ids"]
        ids = tok(head + answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        return float(sum(logits[i - 1, ids[i]] for i in range(len(p_ids), len(ids))))

    diffs = []
    for t in topics:
        prompt, answer = f"Write one sentence about {t}.", f"Here is a sentence about {t}."
        diffs.append(logp(prompt, PATTERN + answer) - logp(prompt, answer))
    return sum(diffs) / len(diffs)


@pytest.mark.model
def test_dpo_on_the_embedded_model_learns_the_chosen_pattern(tmp_path):
    from datagen.train.infer import load_for_generation

    st = prefs_store(tmp_path)
    out = tmp_path / "dpo"
    res = CliRunner().invoke(main, [
        "train", "--method", "dpo", "--dataset", "pat-prefs", "--store", str(st.root), "--out", str(out),
        "--max-steps", "4", "--batch-size", "2", "--lr", "1e-3", "--eval-fraction", "0.125", "--eval-steps", "100",
        "--logging-steps", "1", "--max-length", "64", "--threads", "2", "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "dpo (beta 0.1, reference: the base model): eval reward margin 0.000 ->" in res.output
    report = json.loads((out / "train_report.json").read_text())
    before, after = report["dpo"]["eval_before"], report["dpo"]["eval_after"]
    # policy == reference before training: every log-ratio is 0
    assert abs(before["rewards/margins"]) < 1e-4
    # the log-ratio to the reference rises for chosen over rejected, on pairs it never trained on
    assert after["rewards/margins"] > 0.05 and after["rewards/chosen"] > after["rewards/rejected"]
    assert (out / "loss_curve.png").is_file() and "tags: [datagen, lora, dpo]" in (out / "README.md").read_text()
    assert not (out / "ref").exists()  # only the trained adapter is saved, not TRL's reference copy

    model, tok = load_for_generation(adapter=out, threads=2)
    tuned = pattern_preference(model, tok, HELD_OUT)
    with model.disable_adapter():
        base = pattern_preference(model, tok, HELD_OUT)
    assert tuned > base + 0.5, (tuned, base)


def test_dpo_from_an_sft_adapter_uses_it_as_the_reference(tiny_model, tmp_path):  # noqa: F811
    st = prefs_store(tmp_path)
    st.publish("arith", arithmetic(16), [], {})
    sft = tmp_path / "sft"
    train(tiny_cfg(tiny_model, sft, dataset="arith", store=str(st.root), max_steps=3), progress=False)
    out = tmp_path / "dpo"
    report = train(tiny_cfg(tiny_model, out, dataset="pat-prefs", store=str(st.root), method="dpo",
                            adapter=str(sft), max_steps=3, eval_steps=3), progress=False)
    assert report["method"] == "dpo" and report["dpo"]["reference"] == f"SFT adapter {sft}"
    # the reference is the SFT adapter, not the base: before training the policy equals it
    assert abs(report["dpo"]["eval_before"]["rewards/margins"]) < 1e-4
    assert (out / "adapter_model.safetensors").is_file() and report["steps"] == 3


def test_eval_compares_the_dpo_adapter_with_the_sft_adapter_and_the_base(tiny_model, tmp_path, stub):  # noqa: F811
    st = prefs_store(tmp_path)
    st.publish("arith", arithmetic(16), [], {})
    sft, dpo = tmp_path / "sft", tmp_path / "dpo"
    train(tiny_cfg(tiny_model, sft, dataset="arith", store=str(st.root), max_steps=2, eval_fraction=0), progress=False)
    train(tiny_cfg(tiny_model, dpo, dataset="pat-prefs", store=str(st.root), method="dpo", adapter=str(sft),
                   max_steps=2, eval_fraction=0), progress=False)
    ev = tmp_path / "eval.jsonl"
    ev.write_text("\n".join(json.dumps({"instruction": f"Write one sentence about {t}.",
                                        "output": f"Here is a sentence about {t}."}) for t in HELD_OUT))

    def judge(body):  # prefers whichever answer is longer, in both orders: consistent
        user = body["messages"][-1]["content"]
        a = user.split("Answer A:\n", 1)[1].split("\n\nAnswer B:", 1)[0]
        b = user.split("Answer B:\n", 1)[1].split("\n\nGive", 1)[0]
        return "Longer.\nVerdict: " + ("A" if len(a) >= len(b) else "B")

    stub.default = judge
    res = CliRunner().invoke(main, ["eval", "--adapter", str(sft), "--adapter", str(dpo), "--eval", str(ev),
                                    "--out", str(tmp_path / "ev"), "--max-new-tokens", "4", "--threads", "1",
                                    "--judge-base-url", stub.url, "--judge-model", "j", "--quiet"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "ev" / "eval_report.json").read_text())
    assert [m["id"] for m in report["models"]] == ["base", "adapter1", "adapter2"]
    assert report["models"][2]["trained_on"]["dataset"] == "pat-prefs"
    for mid in ("adapter1", "adapter2"):
        assert report["overall"][mid]["judge"]["judged"] == len(HELD_OUT)
    assert len(stub.requests) == 2 * 2 * len(HELD_OUT)  # each adapter vs the base, both orders


def test_dpo_needs_preference_data_and_adapter_is_dpo_only(tiny_model, tmp_path):  # noqa: F811
    from datagen.errors import ConfigError

    st = DatasetStore(tmp_path / "datasets")
    st.publish("arith", arithmetic(8), [], {})
    with pytest.raises(ConfigError, match="without prompt/chosen/rejected"):
        train(tiny_cfg(tiny_model, tmp_path / "o", dataset="arith", store=str(st.root), method="dpo"), progress=False)
    with pytest.raises(ConfigError, match="adapter .* is for method dpo"):
        TrainConfig(adapter=str(tmp_path), method="sft")


@pytest.mark.model
@pytest.mark.ddp
def test_dpo_under_torchrun_splits_the_pairs_over_two_ranks(tiny_model, tmp_path):  # noqa: F811
    import os
    import subprocess
    import sys

    st = prefs_store(tmp_path)
    out = tmp_path / "dpo"
    script = tmp_path / "train.py"
    script.write_text("from datagen.cli import main; main()", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(p) for p in (os.environ.get("PYTHONPATH"),) if p] + [os.getcwd()])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         "train", "--method", "dpo", "--dataset", "pat-prefs", "--store", str(st.root), "--base-model",
         str(tiny_model), "--out", str(out), "--epochs", "1", "--batch-size", "2", "--eval-fraction", "0",
         "--threads", "1", "--max-length", "64", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["distributed"]["world_size"] == 2 and report["distributed"]["rows_per_rank"] == [8, 8]
    assert report["steps"] == 4  # 16 pairs / (2 per rank x 2 ranks): not 8, as two separate runs would take
    assert proc.stdout.count("trained ") == 1  # rank 0 alone reports and writes


def test_dpo_prints_progress_lines_not_bars_or_dicts(tiny_model, tmp_path, capsys):  # noqa: F811
    """DPO says what it is doing as SFT does (train/fit.py): step, loss, ETA; no tqdm bars or raw dicts."""
    st = prefs_store(tmp_path)
    train(tiny_cfg(tiny_model, tmp_path / "dpo", dataset="pat-prefs", store=str(st.root), method="dpo",
                   max_steps=2, logging_steps=50, eval_steps=None), progress=True)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(("train:", "eval:"))]
    assert any(ln.startswith("train: step 1/2 (50%), loss ") and "ETA" in ln for ln in lines), err[-2000:]
    assert "{'" not in err and "%|" not in err
