"""The prefs and dpo pipeline steps (run/steps.py): generate -> train (sft) -> prefs ->
dpo -> eval in one pipeline, against the stub server and a tiny random Llama."""

from __future__ import annotations

import json
import re

from datagen.run import pipeline
from test_run_steps import pipeline_file
from test_pipeline import qa_responder
from test_train_lora import tiny_model  # noqa: F401 - the fixture


def responder(body):
    """Self-QA for the generator; strong/weak answers for prefs; a judge that prefers STRONG."""
    user = body["messages"][-1]["content"]
    if "<<<" in body["messages"][0]["content"]:
        return qa_responder(body)
    if "Answer A:" in user:
        a = re.search(r"Answer A:\n(.*?)\n\nAnswer B:", user, re.S).group(1)
        return "A is fuller.\nVerdict: A" if "STRONG" in a else "B is fuller.\nVerdict: B"
    n = body.get("n", 1)
    return [("STRONG: a full answer." if body["model"] == "strong" else "meh") for _ in range(n)]


def test_generate_train_prefs_dpo_eval_in_one_pipeline(tmp_path, stub, tiny_model):  # noqa: F811
    stub.default = responder
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"instruction": "Why do bees dance?", "output": "To share where flowers are."}))
    tiny = dict(base_model=str(tiny_model), max_steps=1, batch_size=2, eval_fraction=0, threads=1, max_length=64,
                learning_rate=0.01)
    extra = "\n".join([
        "train: " + json.dumps({**tiny, "out": str(tmp_path / "sft")}),
        "prefs: " + json.dumps({"responses": 2, "models": ["strong", "weak"], "judge_model": "judge"}),
        "dpo: " + json.dumps({**tiny, "out": str(tmp_path / "dpo")}),
        "eval: " + json.dumps({"eval": str(ev), "max_new_tokens": 4, "threads": 1}), ""])
    pipe = pipeline.load(pipeline_file(tmp_path, stub, extra))
    assert [type(s).__name__ for s in pipe.steps()] == ["TrainStep", "PrefsStep", "DpoStep", "EvalStep"]
    res = pipeline.run(pipe, progress=False)
    assert any(re.match(r"prefs: \d+ pairs from qa@v0001: qa-prefs@v0001", n) for n in res.notes), res.notes
    dpo = json.loads((tmp_path / "dpo" / "train_report.json").read_text())
    assert dpo["method"] == "dpo" and dpo["dpo"]["reference"] == f"SFT adapter {tmp_path / 'sft'}"
    assert dpo["data"]["dataset"] == "qa-prefs"
    pairs = pipe.store().resolve("qa-prefs").records()
    assert pairs and all(r.extra["chosen"].startswith("STRONG") for r in pairs)
    # eval compares the SFT and the DPO adapter with the base
    assert [m["id"] for m in res.eval_report["models"]] == ["base", "adapter1", "adapter2"]
    assert res.eval_report["models"][2]["adapter_dir"] == str(tmp_path / "dpo")


def test_dpo_needs_a_prefs_section(tmp_path, stub):
    import pytest

    from datagen.errors import ConfigError

    with pytest.raises(ConfigError, match="dpo stage trains on the prefs stage's pairs"):
        pipeline.load(pipeline_file(tmp_path, stub, "dpo: {max_steps: 1}\n"))
