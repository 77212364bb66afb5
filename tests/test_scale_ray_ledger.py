"""The ledger under --executor ray (datagen/run/executor.py): the driver merges each block's
ledger rows into the run's one ledger (the same as a local run's), and a cap applies
between blocks, counting what the stub server receives."""

import zlib

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from datagen.cli import main  # noqa: E402
from datagen.store import DatasetStore  # noqa: E402
from test_scale_ray import responder, write_docs  # noqa: E402

pytestmark = pytest.mark.ray


def run(stub, tmp_path, name, *args):
    res = CliRunner().invoke(main, [
        "run", "self-qa", "--docs", str(tmp_path / "docs" if (tmp_path / "docs").exists() else write_docs(tmp_path)),
        "--base-url", stub.url, "--model", "gpt-4o-mini", "--no-embed", "--rouge", "0.8", "--lang", "en",
        "--chunk-chars", "200", "--overlap", "0", "--batch", "3", "--questions", "5", "--max-retries", "0",
        "--dataset", "d", "--store", str(tmp_path / name / "store"), "--cache-path", str(tmp_path / name / "c.sqlite"),
        *map(str, args)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output, DatasetStore(str(tmp_path / name / "store"))


def rows(ledger):
    return sorted((r["stage"], r["requests"], r["sent"], r["prompt_tokens"], r["completion_tokens"], r["dollars"])
                  for r in ledger["stages"])


def own_questions(body):
    """test_scale_ray's replies without the question every chunk asks: a cross-block
    duplicate is answered on Ray before the driver sees it is one (a reject, paid for),
    while a local run drops it unanswered; the ledgers differ by exactly those answers."""
    text = responder(body)
    return text.replace("What does every stone hold?", f"What does stone {zlib.crc32(text.encode()) % 10**6} hold?")


def test_ray_ledger_equals_the_local_one(cluster, stub, tmp_path):
    stub.responder = own_questions
    # --num past what the corpus gives: both runs use every block, so they ask the same requests
    _, local = run(stub, tmp_path, "local", "--num", 1000)
    local_sent = len(stub.requests)
    out, on_ray = run(stub, tmp_path, "ray", "--num", 1000, "--executor", "ray")
    a = local.latest("d").manifest["usage"]["ledger"]
    b = on_ray.latest("d").manifest["usage"]["ledger"]
    assert b["total"]["sent"] == len(stub.requests) - local_sent > 0
    assert rows(b) == rows(a) and b["total"] == a["total"]
    assert b["total"]["dollars"] > 0 and "cost: $0.0000" not in out


def test_a_block_sent_after_an_earlier_one_returned_does_not_pay_for_its_questions(cluster, stub, tmp_path):
    """Every chunk asks "What does every stone hold?". Locally only the first chunk's copy is
    answered; on Ray, one block at a time, each block is sent knowing what those before it
    asked, so it drops the repeat unanswered too: the same requests, the same ledger."""
    stub.responder = responder
    _, local = run(stub, tmp_path, "local", "--num", 1000)
    local_sent = len(stub.requests)
    _, on_ray = run(stub, tmp_path, "ray", "--num", 1000, "--executor", "ray", "--ray-workers", 1)
    a = local.latest("d").manifest["usage"]["ledger"]
    b = on_ray.latest("d").manifest["usage"]["ledger"]
    assert len(stub.requests) - local_sent == local_sent
    assert rows(b) == rows(a) and b["total"] == a["total"]
    dupes = [r for r in on_ray.latest("d").rejects() if r["reason"] == "duplicate_question"]
    assert dupes and all(r["stage"] == "question" for r in dupes)  # dropped before its answer


def test_ray_cap_applies_between_blocks(cluster, stub, tmp_path):
    stub.responder = responder
    _, full = run(stub, tmp_path, "full", "--num", 1000, "--executor", "ray")
    total = full.latest("d").manifest["usage"]["ledger"]["total"]
    # a cap below one request's price: nothing is sent, as locally
    before = len(stub.requests)
    out, none = run(stub, tmp_path, "tiny", "--num", 1000, "--executor", "ray", "--max-cost", "0.000001")
    assert len(stub.requests) == before and "stopped: budget" in out
    assert none.versions("d") == [] and len(none.attempts("d")) == 1
    # half the run's dollars: blocks stop going out at the cap, what finished is published
    before = len(stub.requests)
    cap = total["dollars"] / 2
    out, half = run(stub, tmp_path, "half", "--num", 1000, "--executor", "ray", "--max-cost", cap)
    m = half.latest("d").manifest
    assert m["stopped"]["reason"] == "budget" and 0 < m["counts"]["added"]
    spent = m["usage"]["ledger"]["total"]
    assert spent["sent"] == len(stub.requests) - before
    assert spent["dollars"] <= cap * 1.05, (spent, cap)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_self_qa_cap_at_half_publishes_within_the_cap(cluster, stub, tmp_path, executor):
    stub.responder = own_questions
    _, full = run(stub, tmp_path, "full", "--num", 1000, "--executor", executor)
    total = full.latest("d").manifest["usage"]["ledger"]["total"]
    before = len(stub.requests)
    cap = total["tokens"] // 2
    out, half = run(stub, tmp_path, "half", "--num", 1000, "--executor", executor, "--max-total-tokens", cap)
    m = half.latest("d").manifest
    assert m["stopped"]["reason"] == "budget" and m["counts"]["added"] > 0, out
    spent = m["usage"]["ledger"]["total"]
    assert spent["sent"] == len(stub.requests) - before
    assert spent["tokens"] <= cap * 1.05, (spent, cap)
