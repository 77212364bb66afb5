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
