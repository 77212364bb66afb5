"""A pipeline with an eval: stage after train: — Self-QA against the stub server, a
version, a LoRA run (tiny Llama), then the adapter against its base, gating `good`."""

import json

import pytest

from datagen.errors import ConfigError
from datagen.run import pipeline
from datagen.store import DatasetStore
from test_pipeline import cli, docs, qa_responder, write_pipeline  # noqa: F401 (docs is a fixture)
from test_train_lora import tiny_model  # noqa: F401 (fixture)


def test_eval_stage_after_train_promotes_the_first_version(tmp_path, stub, docs, tiny_model):  # noqa: F811
    stub.responder = qa_responder
    ev = tmp_path / "eval.jsonl"
    ev.write_text("\n".join(json.dumps({"instruction": f"Add {i} and {i}.", "output": f"{2 * i}"}) for i in range(3)))
    extra = (f"train:\n  base_model: {tiny_model}\n  out: {tmp_path}/adapters/qa-{{version}}\n  max_steps: 1\n"
             f"  batch_size: 2\n  eval_fraction: 0\n  threads: 1\n  max_length: 96\n"
             f"eval:\n  eval: {ev}\n  max_new_tokens: 3\n  threads: 1\n  promote_if: better\n")
    res = cli(write_pipeline(tmp_path, stub, docs, num=4, extra=extra))
    assert res.exit_code == 0, res.output
    adapter = tmp_path / "adapters" / "qa-v0001"
    report = json.loads((adapter / "eval_report.json").read_text())
    assert report["models"][1]["trained_on"]["version"] == "v0001" and report["eval_set"]["items"] == 3
    assert "qa@v0001: ROUGE-L" in res.output
    assert "gate: first evaluated version; promoted to good" in res.output
    st = DatasetStore(tmp_path / "store")
    assert st.tags("qa") == {"good": "v0001"} and st.resolve("qa@good").version == "v0001"
    summary = json.loads((tmp_path / "store" / "qa" / "evals" / "v0001.json").read_text())
    assert summary["gate"]["promoted"] is True and summary["adapter"] == report["overall"]["adapter1"]


def test_eval_section_is_checked():
    base = {"generator": {"type": "self-kg", "triples": "x.jsonl"}, "dataset": {"name": "kg"}}
    with pytest.raises(ConfigError, match="add a train: section"):
        pipeline.parse({**base, "eval": {"eval": "e.jsonl"}})
    with pytest.raises(ConfigError, match="eval: unknown key 'metric'"):
        pipeline.parse({**base, "train": {"base_model": "embedded"}, "eval": {"metric": "x"}})
    pipe = pipeline.parse({**base, "train": {"base_model": "embedded"}, "eval": {"promote_if": "better"}})
    assert pipe.eval.promote_if == "better" and pipe.public()["eval"]["promote_if"] == "better"
