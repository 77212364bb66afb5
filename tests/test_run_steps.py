"""Post-publish steps (run/steps.py) and the Run object (run/job.py)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from datagen.errors import ConfigError
from datagen.filters import FilterConfig
from datagen.generators import get_generator
from datagen.llm import LLMConfig
from datagen.run import pipeline, steps
from datagen.run.job import Run, RunSettings
from test_pipeline import PIPELINE, qa_responder

ROOT = Path(__file__).resolve().parent.parent


ORDER: list[tuple[str, str]] = []


@dataclass
class ShortConfig:
    max_words: int = field(default=12, metadata={"help": "Keep instructions of at most this many words.", "min": 1})


class KeepShortStep(steps.Step):
    """A stage added the documented way: a class and a STEPS line. It publishes the
    version's short instructions as the next version."""

    section, config, needs_dataset = "keep_short", ShortConfig, True

    def run(self, state):
        if state.version is None:
            return
        store, parent = state.pipe.store(), state.version
        kept = [r for r in parent.records() if len(r.instruction.split()) <= self.cfg.max_words]
        state.version = store.publish(parent.name, kept, [], {"stage": "keep_short", "generator": "self-qa"},
                                      parent=parent.version)
        ORDER.append(("keep_short", parent.version))
        state.note(f"kept {len(kept)} short: {state.version.ref}")


class SeeStep(steps.Step):
    """Registered before keep_short in the file, after it in STEPS: it sees keep_short's version."""

    section, config = "see", ShortConfig

    def run(self, state):
        ORDER.append(("see", state.version.version))


@pytest.fixture
def registry(monkeypatch):
    ORDER.clear()
    monkeypatch.setitem(steps.STEPS, "keep_short", KeepShortStep)  # a registry line, as a new stage adds
    monkeypatch.setitem(steps.STEPS, "see", SeeStep)


def pipeline_file(tmp_path, stub, extra):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ROOT / "seeds" / "docs" / "honeybees_en.txt", docs / "honeybees_en.txt")
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(num=3, docs=docs, url=stub.url, store=tmp_path / "store", concurrency=2) + extra)
    return path


def test_a_registered_step_parses_runs_in_registry_order_and_passes_its_version_on(registry, tmp_path, stub):
    stub.default = qa_responder
    pipe = pipeline.load(pipeline_file(tmp_path, stub, "see: {}\nkeep_short:\n  max_words: 30\n"))
    assert [type(s) for s in pipe.steps()] == [KeepShortStep, SeeStep]
    assert pipe.public()["keep_short"] == {"max_words": 30}
    res = pipeline.run(pipe, progress=False)
    assert res.run.version.version == "v0001"
    assert any(re.match(r"kept \d+ short: qa@v0002", n) for n in res.notes)
    assert pipe.store().versions("qa") == ["v0001", "v0002"]
    assert ORDER == [("keep_short", "v0001"), ("see", "v0002")]  # see: after keep_short, on its version


def test_a_step_section_is_checked_like_every_section(registry, tmp_path, stub):
    with pytest.raises(ConfigError, match="keep_short: unknown key 'max_wrds'"):
        pipeline.load(pipeline_file(tmp_path, stub, "keep_short:\n  max_wrds: 3\n"))


def test_an_unregistered_section_is_unknown(tmp_path, stub):
    with pytest.raises(ConfigError, match="unknown section 'keep_short'"):
        pipeline.load(pipeline_file(tmp_path, stub, "keep_short:\n  max_words: 3\n"))


def test_steps_that_read_a_version_need_a_dataset(registry):
    data = {"generator": {"type": "self-kg", "triples": "x.jsonl"}, "out": "x.jsonl", "keep_short": {}}
    with pytest.raises(ConfigError, match="score/select/prefs/keep_short stages need a dataset"):
        pipeline.parse(data, "p.yaml")


def test_builtin_steps_in_order():
    assert list(steps.STEPS) == ["score", "select", "train", "prefs", "dpo", "eval"]
    pipe = pipeline.parse({"generator": {"type": "self-kg", "triples": "x.jsonl"}, "dataset": {"name": "kg"},
                           "eval": {"eval": "e.jsonl"}, "train": {"base_model": "embedded"},
                           "score": [{"scorer": "ifd"}, {"scorer": "perplexity"}], "select": {"by": "ifd", "min": 0.1}})
    assert [type(s).__name__ for s in pipe.steps()] == ["ScoreStep", "ScoreStep", "SelectStep", "TrainStep", "EvalStep"]
    assert [s.cfg.scorer for s in pipe.steps()[:2]] == ["ifd", "perplexity"]


def test_run_settles_language_and_seed_once():
    cls = get_generator("self-instruct")
    gen = cls(cls.config_cls(seeds=[str(ROOT / "seeds" / "self_instruct_zh.jsonl")], seed=7))
    run = Run(gen, RunSettings(), LLMConfig(), FilterConfig())
    assert run.lang == "zh" and run.settings.lang == "zh" and gen.config.lang == "zh"
    assert run.settings.seed == 7
    gen = cls(cls.config_cls(seeds=[str(ROOT / "seeds" / "self_instruct_zh.jsonl")]))
    assert Run(gen, RunSettings(lang="en"), LLMConfig(), FilterConfig()).lang == "en" and gen.config.lang == "en"
