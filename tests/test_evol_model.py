"""One offline Evol-Instruct run on the embedded SmolLM2: evolution prompts, the
likelihood Equal / Not Equal check and answers against a real (weak) model, published."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.generators.evol_instruct.evolve import METHODS
from datagen.store import DatasetStore

pytestmark = pytest.mark.model

REASONS = {"copies_template", "no_information_gain", "answer_refusal", "answer_only_punctuation", "empty_evolution"}


def test_evol_instruct_on_the_embedded_model(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Give three tips for staying healthy.\nExplain why the sky is blue.\n", encoding="utf-8")
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--seeds", str(seeds), "--backend", "local",
                                    "--num", "2", "--rounds", "1", "--max-tokens", "40", "--answer-max-tokens", "40",
                                    "--no-embed", "--dataset", "evol", "--store", str(store)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    dv = DatasetStore(store).latest("evol")
    kept = dv.records() if dv else []
    rejects = dv.rejects() if dv else []
    assert len(kept) + len(rejects) == 2  # one step for each of the two seeds, each accounted for
    for r in kept:
        assert r.meta["method"] in METHODS and r.meta["lineage"][0]["instruction"] in seeds.read_text()
        assert len(r.meta["lineage"]) == r.meta["depth"] and r.output
    for r in rejects:
        assert r["reason"] in REASONS or r["stage"] == "instruction"
    assert "evol-instruct: kept" in res.output
