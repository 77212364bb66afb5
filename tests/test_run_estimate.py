"""--dry-run's scaling (datagen/run/estimate.py): reasoning tokens come from earlier versions' ledgers;
and estimates against the runs they estimate, on the stub server answering with realistic
reply lengths (bench/bench_estimate.py's responder, which runs the whole matrix: five
generators at --num 30, 80 and 300). A representative subset here: Self-Instruct (staged)
and Self-QA at --num 30, first run and with history."""

import sys
from pathlib import Path

import pytest

from datagen.llm.ledger import TokenCounter
from datagen.llm.ledger_views import format_estimate
from datagen.llm.recording import Recorded
from datagen.run.estimate import scale


def _recorded(n):
    from datagen.llm.stages import as_stage

    return [Recorded(stage=as_stage("answers").name, messages=(("user", "Say something."),), n=1, max_tokens=100,
                     cached=False) for _ in range(n)]


def test_reasoning_tokens_scale_from_history_and_show_in_the_table():
    past = [{"version": "v0001", "kept": 10, "stages": [
        {"stage": "answers", "requests": 10, "cached": 0, "completion_tokens": 1000, "reasoning_tokens": 600}]}]
    est = scale(_recorded(10), 10, 100, TokenCounter("local"), past)
    row = est["stages"][0]
    # 100 completion tokens a request, 60 of them thinking: the share holds at both ends
    assert row["low"]["reasoning_tokens"] == round(row["low"]["completion_tokens"] * 0.6)
    assert row["high"]["reasoning_tokens"] == round(row["high"]["completion_tokens"] * 0.6)
    assert est["total"]["high"]["reasoning_tokens"] == row["high"]["reasoning_tokens"]
    est.update(generator="self-instruct", num=100, model="m", backend="local", tokenizer="t", batch=False,
               price=None, probe={"requests": 10, "cached": 0, "kept": 10})
    for r in est["stages"] + [est["total"]]:
        r["low"]["dollars"] = r["high"]["dollars"] = r["expected"]["dollars"] = 0.0
    assert "of the completion tokens, reasoning (thinking):" in format_estimate(est)


def test_no_history_no_reasoning_estimate():
    est = scale(_recorded(4), 4, 10, TokenCounter("local"), [])
    assert est["total"]["high"]["reasoning_tokens"] == 0


@pytest.mark.parametrize("name", ["self-instruct", "self-qa"])
def test_estimate_is_within_30_percent_first_run_and_with_history(name, corpora):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import bench_estimate
    from stub_server import StubLLMServer

    with StubLLMServer(bench_estimate.respond) as stub:
        row = bench_estimate.one(name, 30, stub)
        for label in ("first_run", "with_history"):
            r = row[label]
            assert r["measured"]["requests"] > 0 and r["kept"] > 0
            for k in ("requests", "tokens", "dollars"):
                assert 0.7 <= r["ratio"][k] <= 1.3, (label, k, r)
        assert row["with_history"]["history"] == ["v0001"]


def test_local_self_qa_dry_run_ranks_sampled_questions_without_a_model(tmp_path):
    """The local backend scores text by likelihood, so Self-QA samples several questions per
    sentence and ranks them by the client's scores; the dry run's recording client stands in
    for it and must give every option a score (it raised KeyError)."""
    from click.testing import CliRunner

    from datagen.cli import main

    root = Path(__file__).resolve().parent.parent
    res = CliRunner().invoke(main, ["run", "self-qa", "--docs", str(root / "seeds" / "docs"), "--num", "5",
                                    "--backend", "local", "--dry-run", "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 0, res.output
    assert "dry run: self-qa" in res.output
    assert not (tmp_path / "x.jsonl").exists()
