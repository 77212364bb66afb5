"""YAML pipelines: strict parsing, flags over file, refresh runs, lock exit code, training hand-off."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.run import pipeline
from datagen.cli import main
from datagen.errors import ConfigError
from datagen.store import DatasetStore
from test_store_fakes import WORDS

ROOT = Path(__file__).resolve().parent.parent

PIPELINE = """\
generator:
  type: self-qa
  num: {num}
  docs: {docs}
  chunk_chars: 300
  overlap: 40
  questions_per_chunk: 3
  batch: 2
  lang: en
llm:
  backend: openai
  base_url: {url}
  model: stub
  concurrency: {concurrency}
  max_retries: 0
filters:
  embed: null
dataset:
  name: qa
  store: {store}
"""


def qa_responder(body):
    """Self-QA against the stub: distinct nonsense questions (per seed), answers copied
    from the chunk so they pass the grounding check."""
    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    if re.search(r"\n>>>[\s\S]*Question: ", prompt):
        return " ".join(chunk.split()[:18]) + "."
    rng = random.Random(hashlib.sha256(json.dumps([body.get("seed"), prompt]).encode()).hexdigest())
    qs = [f"Why does {' '.join(rng.sample(WORDS, 5))} matter here?" for _ in range(3)]
    return " " + "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[3:]  # continues the "1." prefill


@pytest.fixture
def docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name in ("honeybees_en.txt", "lora_en.md"):
        shutil.copy(ROOT / "seeds" / "docs" / name, d / name)
    return d


def write_pipeline(tmp_path, stub, docs, num=4, concurrency=2, extra=""):
    path = tmp_path / "qa.yaml"
    path.write_text(PIPELINE.format(num=num, docs=docs, url=stub.url, store=tmp_path / "store",
                                    concurrency=concurrency) + extra)
    return path


def cli(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


# -- parsing -------------------------------------------------------------------------

def base_data(**over):
    data = {"generator": {"type": "self-kg", "triples": "x.jsonl"}, "dataset": {"name": "kg"}}
    data.update(over)
    return data


@pytest.mark.parametrize("data, key", [
    (base_data(extras={}), "unknown section 'extras'"),
    (base_data(generator={"type": "self-kg", "tripels": "x"}), "generator: unknown key 'tripels'"),
    (base_data(llm={"backend": "openai", "api_key": "sk-x"}), "llm: unknown key 'api_key'"),
    (base_data(filters={"rogue": 0.5}), "filters: unknown key 'rogue'"),
    (base_data(dataset={"name": "kg", "root": "x"}), "dataset: unknown key 'root'"),
    (base_data(train={"base_model": "embedded", "lr": 1}), "train: unknown key 'lr'"),
    (base_data(generator={"type": "self-magic"}), "unknown generator 'self-magic'"),
    (base_data(generator={"triples": "x"}), "generator.type is required"),
    (base_data(generator={"type": "self-kg", "num": 0}), "generator.num: must be at least 1, got 0"),
])
def test_unknown_and_bad_keys_are_named(data, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        pipeline.parse(data, "p.yaml")


def test_shipped_refresh_pipeline_parses():
    pipe = pipeline.load(ROOT / "pipelines" / "refresh-self-instruct.yaml")
    assert pipe.type == "self-instruct" and pipe.dataset.name == "si-en" and pipe.train is not None
    assert pipe.generator.seeds == ["seeds/self_instruct_en.jsonl"]


def test_yaml_is_safe_loaded(tmp_path):
    bad = tmp_path / "evil.yaml"
    bad.write_text('generator: !!python/object/apply:os.system ["touch pwned"]\n')
    res = cli(bad)
    assert res.exit_code == 2 and "invalid YAML" in res.output
    assert not (Path.cwd() / "pwned").exists()


def test_flags_override_the_file(tmp_path, stub, docs):
    path = write_pipeline(tmp_path, stub, docs)
    res = cli(path, "--dry-run", "--num", 7, "--seed", 5, "--rouge", 0.5, "--dataset", "other",
              "--store", tmp_path / "s2", "--base-url", "http://127.0.0.1:9/v1", "--concurrency", 3)
    assert res.exit_code == 0, res.output
    d, end = json.JSONDecoder().raw_decode(res.output)  # the resolved pipeline, then the cost estimate
    assert "dry run: self-qa, 7 records" in res.output[end:]
    assert d["generator"]["num"] == 7 and d["generator"]["seed"] == 5 and d["filters"]["rouge"] == 0.5
    assert d["filters"]["embed"] is None
    assert d["dataset"] == {"name": "other", "store": str(tmp_path / "s2")}
    assert d["llm"]["base_url"] == ["http://127.0.0.1:9/v1"] and d["llm"]["concurrency"] == 3
    assert not stub.requests


# -- running -------------------------------------------------------------------------

def test_pipeline_publishes_then_refreshes(tmp_path, stub, docs):
    stub.responder = qa_responder
    path = write_pipeline(tmp_path, stub, docs)
    res = cli(path)
    assert res.exit_code == 0, res.output
    assert "published qa@v0001" in res.output
    res = cli(path, "--num", 3)
    assert res.exit_code == 0, res.output
    store = DatasetStore(tmp_path / "store")
    assert store.versions("qa") == ["v0001", "v0002"]
    v1, v2 = store.resolve("qa@v1"), store.resolve("qa@v2")
    assert v2.manifest["parent"] == "v0001" and v2.manifest["counts"]["added"] == 3
    assert v2.manifest["counts"]["records"] == v1.manifest["counts"]["records"] + 3
    assert v2.manifest["generator"] == "self-qa" and v2.manifest["inputs"]
    assert {r.id for r in v1.records()} <= {r.id for r in v2.records()}


def test_lock_held_exits_3_without_calls(tmp_path, stub, docs):
    stub.responder = qa_responder
    path = write_pipeline(tmp_path, stub, docs)
    held, done = threading.Event(), threading.Event()

    def holder():
        with DatasetStore(tmp_path / "store").lock("qa"):
            held.set()
            done.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        held.wait(5)
        res = cli(path)
    finally:
        done.set()
        t.join()
    assert res.exit_code == 3
    assert "is being written by another run" in res.output
    assert not stub.requests


def test_train_stage_gets_the_new_version(tmp_path, stub, docs, monkeypatch):
    stub.responder = qa_responder
    seen = []

    def fake_train(cfg, progress=True):
        seen.append(cfg)
        return {"out": cfg.out, "train_loss": 1.0}

    import datagen.train

    monkeypatch.setattr(datagen.train, "train", fake_train)
    path = write_pipeline(tmp_path, stub, docs, extra=f"train:\n  out: {tmp_path / 'adapter'}\n  max_steps: 1\n")
    res = cli(path)
    assert res.exit_code == 0, res.output
    assert len(seen) == 1 and seen[0].dataset == "qa@v0001" and seen[0].store == str(tmp_path / "store")
    assert "trained:" in res.output
    cli(path, "--no-train")
    assert len(seen) == 1
