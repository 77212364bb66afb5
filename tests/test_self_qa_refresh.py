"""A Self-QA refresh over the same documents asks first about the chunks its parent's
records did not come from: the parent's chunks give back questions it already holds, each
paid for twice (question and answer) and then dropped as parent_duplicate."""

import json

from click.testing import CliRunner

from datagen.cli import main
from datagen.generators.self_qa import SelfQAConfig, SelfQAGenerator
from datagen.records import Record
from datagen.store import DatasetStore
from test_self_qa_rounds import responder, write_docs


def test_the_parents_chunks_go_last_in_the_seeds_order(tmp_path):
    write_docs(tmp_path)
    gen = SelfQAGenerator(SelfQAConfig(docs=str(tmp_path / "docs"), chunk_chars=200, overlap=0, seed=3))
    order = gen.chunk_order()
    used = order[::3]  # a third of the chunks, spread through the order
    gen.continue_from([Record(instruction="q?", output="a", meta={"source": "self-qa", "doc": c.doc_id,
                                                                  "chunk": [c.start, c.end]}) for c in used]
                      + [Record(instruction="other", meta={"source": "self-instruct"})])
    refreshed = gen.chunk_order()
    fresh = [c for c in order if c not in used]
    assert refreshed == fresh + used  # unused first, each part in the seed's order
    gen.continue_from([])
    assert gen.chunk_order() == order


def run_version(stub, tmp_path, num):
    before = len(stub.requests)
    res = CliRunner().invoke(main, [
        "run", "self-qa", "--docs", str(tmp_path / "docs"), "--base-url", stub.url, "--model", "gpt-4o-mini",
        "--no-embed", "--lang", "en", "--chunk-chars", "200", "--overlap", "0", "--batch", "3",
        "--questions", "5", "--max-retries", "0", "--num", str(num), "--dataset", "d",
        "--store", str(tmp_path / "store"), "--no-cache"])
    assert res.exit_code == 0, res.output
    version = DatasetStore(str(tmp_path / "store")).latest("d")
    manifest = json.loads((version.path / "manifest.json").read_text())
    return version, manifest, len(stub.requests) - before


def test_a_refresh_pays_for_new_chunks_not_for_duplicates_of_its_parent(stub, tmp_path):
    write_docs(tmp_path, paragraphs=40)
    stub.responder = responder  # questions depend on the chunk only: a chunk asked again repeats them
    v1, m1, sent1 = run_version(stub, tmp_path, 30)
    v2, m2, sent2 = run_version(stub, tmp_path, 30)
    chunks = lambda records: {(r.meta["doc"], tuple(r.meta["chunk"])) for r in records}  # noqa: E731
    old = v1.records()
    new = v2.records()[len(old):]
    assert len(new) >= 30
    assert not chunks(new) & chunks(old)
    # the one question every chunk asks ("What does every stone hold?") is the only repeat
    assert m2["funnel"]["dropped"].get("parent_duplicate", 0) <= 1
    assert sent2 <= 1.3 * sent1  # about what the first version cost, not more
