"""The ledger (datagen/llm/ledger.py) against the stub server, counting what it receives:
caps that publish what is complete, every request the server answered in the manifest,
and the ledger of every manifest."""

import json

import pytest

from datagen.store import DatasetStore
from test_cost import Responder, run


def sent(stub) -> int:
    return len(stub.requests)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "pipelined"])
def test_a_cap_publishes_what_is_complete_and_spends_at_most_the_cap(stub, tmp_path, strict):
    stub.default = Responder()
    gen_kw = {"strict_rounds": strict}
    full = run(stub, tmp_path / "full", num=30, gen_kw=gen_kw)
    total = full.version.manifest["usage"]["ledger"]["total"]
    assert total["sent"] == sent(stub)  # every request the server answered is in the manifest

    # 50% of the run's tokens: the rounds that finished are published, marked stopped: budget
    before = sent(stub)
    cap = total["tokens"] // 2
    half = run(stub, tmp_path / "half", num=30, gen_kw=gen_kw, token_budget=cap)
    m = half.version.manifest
    assert m["stopped"]["reason"] == "budget" and m["usage"]["ledger"]["stopped"]["reason"] == "budget"
    assert 0 < m["counts"]["added"] < full.added
    spent = m["usage"]["ledger"]["total"]
    assert spent["sent"] == sent(stub) - before
    # the gate counts requests in flight as spent: only its estimates of them can be off
    assert spent["tokens"] <= cap * 1.05, (spent, cap)
    for r in DatasetStore(str(tmp_path / "half" / "store")).read("demo"):
        assert r.instruction and r.output  # whole records only

    # 10% of its dollars: nothing completes, and the attempt is still on record in the store
    before = sent(stub)
    cap = total["dollars"] / 10
    tenth = run(stub, tmp_path / "tenth", num=30, gen_kw=gen_kw, max_cost=cap)
    assert tenth.version is None and tenth.stopped["reason"] == "budget"
    store = DatasetStore(str(tmp_path / "tenth" / "store"))
    assert store.versions("demo") == []
    [attempt] = store.attempts("demo")
    assert str(attempt) in tenth.report.notes[-1]
    record = json.loads((attempt / "manifest.json").read_text())
    ledger = record["usage"]["ledger"]
    assert record["stopped"]["reason"] == "budget" and record["counts"]["added"] == 0
    assert ledger["total"]["sent"] == sent(stub) - before > 0
    assert 0 < ledger["total"]["dollars"] <= cap * 1.05, (ledger["total"], cap)


def test_score_and_select_manifests_have_a_ledger(stub, tmp_path):
    from click.testing import CliRunner

    from datagen.cli import main
    from datagen.records import Record

    store = DatasetStore(tmp_path / "s")
    with store.lock("d"):
        store.publish("d", [Record(instruction=f"Explain concept {i}.", output=f"Answer {i}.") for i in range(4)],
                      [], {"generator": "self-instruct"})
    stub.default = lambda body: '{"score": 4, "reason": "fine"}'
    res = CliRunner().invoke(main, ["score", "d", "--scorer", "judge", "--store", str(tmp_path / "s"),
                                    "--judge-base-url", stub.url, "--judge-model", "gpt-4o-mini",
                                    "--max-retries", "0", "--cache-path", str(tmp_path / "c.sqlite")])
    assert res.exit_code == 0, res.output
    ledger = store.resolve("d@v2").manifest["usage"]["ledger"]
    assert ledger["total"]["sent"] == sent(stub) == 4
    assert ledger["total"]["dollars"] > 0 and ledger["price"]["as_of"]  # a priced model never costs $0
    res = CliRunner().invoke(main, ["select", "d", "--by", "judge", "--min", "3", "--store", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    ledger = store.resolve("d@v3").manifest["usage"]["ledger"]
    assert ledger["total"]["requests"] == 0 and ledger["total"]["dollars"] == 0.0 and "no LLM" in ledger["price"]


def test_merging_a_blocks_rows_keeps_every_count_reasoning_tokens_included():
    """A Ray block's ledger rows merged on the driver give the same totals as recording the
    calls there (reasoning tokens were dropped by the merge)."""
    from datagen.llm.ledger import Ledger

    here, worker, driver = (Ledger("openai", "gpt-4o-mini") for _ in range(3))
    for ledger in (here, worker):
        ledger.record("answers", 100, 40, reasoning_tokens=25)
        ledger.record("answers", 80, 30, retries=1, reasoning_tokens=10)
        ledger.record("answers", 0, 0, cached=True)
    driver.merge(worker.as_dict()["stages"])
    assert driver.totals() == here.totals()
    assert driver.totals()["reasoning_tokens"] == 35
