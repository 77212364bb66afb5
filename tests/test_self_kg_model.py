"""One offline Self-KG run on the embedded SmolLM2: prompts, parsing and verification
against a real (weak) model's replies."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main

pytestmark = pytest.mark.model


def test_self_kg_on_the_embedded_model(tmp_path):
    kg = tmp_path / "kg.jsonl"
    kg.write_text('{"head": "Mars", "relation": "moons", "tail": ["Phobos", "Deimos"]}\n'
                  '{"head": "Paris", "relation": "capital of", "tail": "France"}\n', encoding="utf-8")
    out = tmp_path / "kg_out.jsonl"
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(kg), "--backend", "local", "--num", "2",
                                    "--max-tokens", "64", "--no-embed", "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in out.with_name("kg_out.rejects.jsonl").read_text().splitlines()]
    assert len(kept) + len(rejects) == 2  # both fact groups accounted for
    for r in kept:
        assert all(t["tail"].lower() in r["output"].lower() for t in r["meta"]["triples"])
    for r in rejects:
        assert r["reason"] in {"unparsable_reply", "answer_missing_fact", "refers_to_source"} \
            or r["stage"] == "instruction"
