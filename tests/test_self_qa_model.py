"""One offline Self-QA run on the embedded SmolLM2: extractive by default on the local
backend, so even this weak model publishes grounded pairs; every candidate is accounted for."""

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
         "answer_cut_off", "empty_answer", "answer_not_grounded", "question_off_topic"}


def test_self_qa_on_the_embedded_model(tmp_path):
    (tmp_path / "bees.txt").write_text(DOC, encoding="utf-8")
    out = tmp_path / "qa.jsonl"
    res = CliRunner().invoke(main, ["run", "self-qa", "--docs", str(tmp_path / "bees.txt"), "--backend", "local",
                                    "--num", "1", "--questions", "3", "--no-embed",
                                    "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in out.with_name("qa.rejects.jsonl").read_text().splitlines()]
    assert len(kept) >= 1, res.output
    for r in kept:
        assert r["meta"]["chunk"] == [0, len(DOC)] and r["meta"]["answer_mode"] == "extractive"
        a, b = r["meta"]["answer_span"]
        assert DOC[a:b] == r["output"] and r["meta"]["grounding"] == 1.0
    for r in rejects:
        assert r["reason"] in KNOWN or r["stage"] == "instruction"
