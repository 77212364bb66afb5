"""`datagen score`, `datagen select`, `datagen filter --decontaminate`, and the pipeline's
score:/select: stages, end to end against the stub server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import ConfigError
from datagen.records import Record
from datagen.run import pipeline
from datagen.store import DatasetStore
from test_pipeline import docs, qa_responder, write_pipeline  # noqa: F401  (docs is a fixture)


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def judge_or_qa(body):
    prompt = body["messages"][0]["content"]
    if prompt.startswith("We would like to request your feedback"):
        # a stable score from the record's text, so selection has something to rank
        return json.dumps({"score": 1 + len(prompt) % 5, "reason": "stub judgement"})
    return qa_responder(body)


def test_score_and_select_commands(tmp_path, stub, monkeypatch):
    store = DatasetStore(tmp_path / "s")
    with store.lock("d"):
        store.publish("d", [Record(instruction=f"Explain concept {i}.", output=f"Answer {i}.") for i in range(4)],
                      [], {"generator": "self-instruct"})
    stub.default = lambda body: ('{"score": 5, "reason": "good"}' if "concept 1." in body["messages"][0]["content"]
                                 or "concept 3." in body["messages"][0]["content"] else "Score: 2")
    res = run_cli("score", "d", "--scorer", "judge", "--store", tmp_path / "s", "--judge-base-url", stub.url,
                  "--judge-model", "big-judge", "--max-retries", 0, "--cache-path", tmp_path / "c.sqlite")
    assert res.exit_code == 0, res.output
    assert "scored 4 records with judge; published d@v0002" in res.output
    assert {b["model"] for b in stub.requests} == {"big-judge"}
    res = run_cli("select", "d", "--by", "judge", "--min", 4.5, "--store", tmp_path / "s")
    assert res.exit_code == 0, res.output
    assert "selected 2 of 4 by judge (dropped 2 below_threshold); published d@v0003" in res.output
    v3 = store.resolve("d@v3")
    assert [r.instruction for r in v3.records()] == ["Explain concept 1.", "Explain concept 3."]
    assert v3.manifest["selection"]["min"] == 4.5
    # bad input: one line, exit 2
    res = run_cli("select", "d", "--by", "judge", "--store", tmp_path / "s")
    assert res.exit_code == 2 and "threshold" in res.output and "Traceback" not in res.output
    res = run_cli("select", "nope", "--by", "judge", "--min", 1, "--store", tmp_path / "s")
    assert res.exit_code == 2 and "no dataset 'nope'" in res.output
    # a score no record has: exit 2 naming the ones there; nothing selected: nothing published
    res = run_cli("select", "d", "--by", "ifd", "--min", 0.5, "--store", tmp_path / "s")
    assert res.exit_code == 2 and "no record has a 'ifd' score; scores present: judge" in res.output
    res = run_cli("select", "d", "--by", "judge", "--min", 5.5, "--store", tmp_path / "s")
    assert res.exit_code == 0 and "selected 0 of 2" in res.output and "nothing published" in res.output
    assert store.resolve("d").version == "v0003"
    res = run_cli("select", "d", "--by", "judge", "--min", 5.5, "--allow-empty", "--store", tmp_path / "s")
    assert res.exit_code == 0 and "published d@v0004" in res.output


def test_select_budget_uses_diversity_by_default(tmp_path, monkeypatch):
    import datagen.filters.encoder as emb

    monkeypatch.setattr(emb, "load_encoder", lambda model=None: lambda texts: np.ones((len(texts), 2), np.float32)
                        / np.sqrt(2))
    store = DatasetStore(tmp_path / "s")
    recs = [Record(instruction=f"same task {i}", meta={"scores": {"judge": {"value": v}}})
            for i, v in enumerate([3, 5, 4])]
    with store.lock("d"):
        store.publish("d", recs, [], {})
    res = run_cli("select", "d", "--by", "judge", "--budget", 2, "--store", tmp_path / "s")
    assert res.exit_code == 0, res.output
    assert "selected 1 of 3" in res.output and "2 not_diverse" in res.output
    res = run_cli("select", "d@v1", "--by", "judge", "--budget", 2, "--no-diversity", "--store", tmp_path / "s")
    assert "selected 2 of 3" in res.output and "1 budget" in res.output


def test_filter_command_decontaminates(tmp_path):
    bench = tmp_path / "bench.txt"
    item = "the quick brown fox jumps over the lazy dog while the farmer watches from the old barn"
    bench.write_text(item + "\n", encoding="utf-8")
    infile = tmp_path / "in.jsonl"
    rows = [{"instruction": "Copy this: " + item.upper(), "output": "ok"},
            {"instruction": "Describe a sunny day at the beach.", "output": "Warm."}]
    infile.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = run_cli("filter", infile, "--out", tmp_path / "out.jsonl", "--no-embed", "--decontaminate", bench)
    assert res.exit_code == 0, res.output
    assert "contaminated" in res.output
    rej = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert rej[0]["reason"] == "contaminated" and rej[0]["detail"]["benchmark"] == str(bench)
    res = run_cli("filter", infile, "--out", tmp_path / "o2.jsonl", "--decontaminate", tmp_path / "missing.txt")
    assert res.exit_code == 2 and "benchmark file not found" in res.output


def test_pipeline_score_and_select_stages(tmp_path, stub, docs, monkeypatch):  # noqa: F811
    stub.responder = judge_or_qa
    seen = []
    import datagen.train

    monkeypatch.setattr(datagen.train, "train", lambda cfg, progress=True: seen.append(cfg) or {"out": cfg.out})
    extra = ("score:\n  scorer: judge\nselect:\n  by: judge\n  min: 3\n"
             f"train:\n  out: {tmp_path / 'adapter'}\n  max_steps: 1\n")
    path = write_pipeline(tmp_path, stub, docs, extra=extra)
    res = CliRunner().invoke(main, ["run", str(path)])
    assert res.exit_code == 0, res.output
    store = DatasetStore(tmp_path / "store")
    assert store.versions("qa") == ["v0001", "v0002", "v0003"]
    v2, v3 = store.resolve("qa@v2"), store.resolve("qa@v3")
    assert v2.manifest["stage"] == "score" and v3.manifest["stage"] == "select"
    assert all(r.meta["scores"]["judge"]["value"] >= 3 for r in v3.records())
    assert "note: scored qa@v0002 with judge" in res.output and "note: selected" in res.output
    assert seen[0].dataset == "qa@v0003"  # training reads the selection


def test_pipeline_quality_sections_parse_strictly():
    base = {"generator": {"type": "self-kg", "triples": "x.jsonl"}, "dataset": {"name": "kg"}}
    pipe = pipeline.parse({**base, "score": [{"scorer": "ifd"}, {"scorer": "judge", "judge_llm": {
        "backend": "openai", "model": "judge"}}], "select": {"by": "ifd", "budget": 10}})
    assert [c.scorer for c in pipe.score] == ["ifd", "judge"] and pipe.select.budget == 10
    assert pipe.public()["score"][1]["judge_llm"]["model"] == "judge"
    with pytest.raises(ConfigError, match="score: unknown key 'scorr'"):
        pipeline.parse({**base, "score": {"scorr": "judge"}})
    with pytest.raises(ConfigError, match="score.scorer: must be one of"):
        pipeline.parse({**base, "score": {"scorer": "vibes"}})
    with pytest.raises(ConfigError, match="judge_llm: unknown key 'api_key'"):
        pipeline.parse({**base, "score": {"judge_llm": {"api_key": "sk-x"}}})
    with pytest.raises(ConfigError, match="need a dataset"):
        pipeline.parse({"generator": base["generator"], "out": "x.jsonl", "select": {"by": "judge", "min": 1}})
