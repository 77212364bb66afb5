"""The executor seam without a cluster: blocks follow the local order, the driver-side
duplicate-question rule, and a one-line error when the ray extra is missing."""

import sys

import pytest

from datagen.errors import ConfigError
from datagen.filters.base import Verdict
from datagen.generators.base import Outcome
from datagen.generators.blocks import BlockWork
from datagen.generators.self_kg.generator import SelfKGConfig, SelfKGGenerator
from datagen.generators.self_qa.generator import SelfQAConfig, SelfQAGenerator
from datagen.llm import LLMConfig
from datagen.records import Record
from datagen.run.executor import LocalExecutor, WorkerCache, make_executor
from datagen.run.job import RunSettings
from test_self_kg import SEEDS


def qa(tmp_path, **kw):
    (tmp_path / "d.md").write_text("\n\n".join(f"Paragraph {i} tells a long enough story about item {i} "
                                               f"and its many uses in the kitchen." for i in range(20)))
    return SelfQAGenerator(SelfQAConfig(docs=str(tmp_path / "d.md"), chunk_chars=100, overlap=0, batch=3, **kw))


def test_blocks_cut_the_local_order(tmp_path):
    gen = qa(tmp_path)
    assert isinstance(gen, BlockWork)
    blocks = gen.blocks()
    assert [c for b in blocks for c in b] == gen.chunk_order() and len(gen.chunk_order()) == len(gen.chunks)
    assert all(len(b) == 3 for b in blocks[:-1])
    kg = SelfKGGenerator(SelfKGConfig(triples=str(SEEDS / "kg_en.jsonl"), batch=5))
    assert [g for b in kg.blocks() for g in b] == kg.groups()


def test_a_question_an_earlier_block_asked_is_a_duplicate(tmp_path):
    gen = qa(tmp_path)
    meta = {"source": "self-qa", "lang": "en", "doc": "d.md", "chunk": [0, 10], "grounding": 1.0}
    cand = lambda q: Outcome(Record(instruction=q, output="a", meta=dict(meta)), Verdict(True), "instruction")  # noqa: E731
    state: dict = {}
    first = gen.accept_block([cand("Why?"), cand("How?")], state)
    assert [o.verdict.kept for o in first] == [True, True]
    second = gen.accept_block([cand("How?"), cand("When?")], state)
    assert (second[0].stage, second[0].verdict.reason) == ("question", "duplicate_question")
    assert "grounding" not in second[0].record.meta and second[0].record.output == ""
    assert second[1].verdict.kept


def test_executor_choice():
    llm = LLMConfig()
    assert isinstance(make_executor(RunSettings(), llm), LocalExecutor)
    with pytest.raises(ConfigError):
        RunSettings(executor="spark")


def test_missing_ray_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"--executor ray needs the 'ray' extra .*pip install 'datagen\[ray\]'"):
        make_executor(RunSettings(executor="ray"), LLMConfig())


def test_worker_cache_reads_the_file_and_returns_new_answers(tmp_path):
    from datagen.llm.base import Completion
    from datagen.llm.cache import ResponseCache

    main = ResponseCache(tmp_path / "c.sqlite")
    main.put("old", [Completion(text="cached answer")])
    main.close()
    wc = WorkerCache(tmp_path / "c.sqlite")
    assert wc.get("old")[0].text == "cached answer" and wc.get("new") is None
    wc.put("new", [Completion(text="fresh")])
    assert wc.get("new")[0].text == "fresh"
    new = wc.take_new()
    assert set(new) == {"new"} and wc.take_new() == {}
    wc.close()
    missing = WorkerCache(tmp_path / "elsewhere.sqlite")  # a node without the file: every request asked
    assert missing.get("old") is None and not (tmp_path / "elsewhere.sqlite").exists()
