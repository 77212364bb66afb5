"""One offline Self-QA run on the embedded SmolLM2: the whole path works with a real
(weak) model. What it keeps varies; every candidate must be accounted for."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main

pytestmark = pytest.mark.model

DOC = ("Honeybees live in colonies with one queen, a few hundred drones and thousands of worker bees. "
       "The queen is the only bee that lays eggs. Worker bees collect nectar and pollen, and a forager "
       "that finds food tells her sisters where it is with the waggle dance.")

KNOWN = {"question_refers_to_text", "duplicate_question", "answer_refusal", "answer_refers_to_text",
         "answer_cut_off", "empty_answer", "answer_not_grounded"}


def test_self_qa_on_the_embedded_model(tmp_path):
    (tmp_path / "bees.txt").write_text(DOC, encoding="utf-8")
    out = tmp_path / "qa.jsonl"
    res = CliRunner().invoke(main, ["run", "self-qa", "--docs", str(tmp_path / "bees.txt"), "--backend", "local",
                                    "--num", "2", "--questions", "2", "--max-tokens", "64", "--no-embed",
                                    "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in out.with_name("qa.rejects.jsonl").read_text().splitlines()]
    assert kept or rejects, res.output  # the model asked something
    for r in kept:
        assert r["meta"]["chunk"] == [0, len(DOC)] and r["meta"]["grounding"] >= 0.5
    for r in rejects:
        assert r["reason"] in KNOWN or r["stage"] == "instruction"
