"""The loop closed on the real embedded SmolLM2-135M: a few LoRA steps on answers that
follow a pattern the base model cannot know ("ZQX" then the input's words reversed), and
`datagen eval` must show the adapter beating the base on held-out items of that pattern."""

import json
import random

import pytest
from click.testing import CliRunner

from datagen.cli import main

pytestmark = pytest.mark.model

WORDS = ("apple river stone cloud green quiet seven lamp north paper bright window garden silver "
         "yellow forest candle morning winter basket").split()


def pattern_item(rng):
    words = rng.sample(WORDS, 3)
    return {"instruction": "Apply the ZQX rule to the words.", "input": " ".join(words),
            "output": "ZQX " + " ".join(reversed(words))}


def test_adapter_learns_a_pattern_the_base_does_not_know(tmp_path):
    rng = random.Random(0)
    items = [pattern_item(rng) for _ in range(40)]
    seen = {it["input"] for it in items[:32]}
    train_rows = items[:32]
    eval_rows = [it for it in items[32:] if it["input"] not in seen][:6]
    data, ev = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in train_rows))
    ev.write_text("\n".join(json.dumps(r) for r in eval_rows))
    out = tmp_path / "adapter"
    res = CliRunner().invoke(main, ["train", "--data", str(data), "--base-model", "embedded", "--out", str(out),
                                    "--max-steps", "10", "--batch-size", "4", "--lr", "3e-3", "--lora-r", "8",
                                    "--eval-fraction", "0", "--max-length", "96", "--threads", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    # the shared instruction is shorter than 13 tokens and the inputs differ: no overlap
    res = CliRunner().invoke(main, ["eval", "--adapter", str(out), "--eval", str(ev), "--max-new-tokens", "10",
                                    "--threads", "2", "--batch-size", "6", "--quiet"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "eval_report.json").read_text())
    base, adapter = report["overall"]["base"], report["overall"]["adapter1"]
    assert adapter["rouge_l"] > base["rouge_l"] + 0.2, res.output
    assert adapter["ref_loss"] < base["ref_loss"] - 1.0, res.output
    answers = [it["outputs"]["adapter1"]["answer"] for it in report["items"]]
    assert sum(a.startswith("ZQX") for a in answers) >= len(answers) // 2, answers
    assert (out / "eval.png").read_bytes()[:4] == b"\x89PNG"
