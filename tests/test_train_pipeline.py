"""A pipeline that ends in training: Self-QA against the stub server, filters, a store
version, then a real LoRA run on it (tiny Llama). And the shipped train-tiny.yaml parses."""

import json
from pathlib import Path

from datagen.run import pipeline
from datagen.train import TrainConfig
from test_pipeline import cli, docs, qa_responder, write_pipeline  # noqa: F401 (docs is a fixture)
from test_train_lora import tiny_model  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_train_tiny_pipeline_parses():
    pipe = pipeline.load(ROOT / "pipelines" / "train-tiny.yaml")
    assert isinstance(pipe.train, TrainConfig)
    assert pipe.train.base_model == "embedded" and pipe.train.max_steps <= 20
    assert pipe.llm.backend == "local" and pipe.dataset.name == "tiny-en"


def test_generate_filter_version_train(tmp_path, stub, docs, tiny_model):  # noqa: F811
    stub.responder = qa_responder
    out = tmp_path / "adapter"
    extra = (f"train:\n  base_model: {tiny_model}\n  out: {out}\n  max_steps: 2\n  batch_size: 2\n"
             f"  eval_fraction: 0.25\n  threads: 1\n  max_length: 128\n")
    res = cli(write_pipeline(tmp_path, stub, docs, num=4, extra=extra))
    assert res.exit_code == 0, res.output
    report = json.loads((out / "train_report.json").read_text())
    assert (report["data"]["dataset"], report["data"]["version"]) == ("qa", "v0001")
    manifest = json.loads((tmp_path / "store" / "qa" / "v0001" / "manifest.json").read_text())
    assert report["data"]["data_sha256"] == manifest["data_sha256"]
    assert report["data"]["records"] == manifest["counts"]["records"] >= 4
    assert report["steps"] == 2 and (out / "adapter_model.safetensors").is_file()
