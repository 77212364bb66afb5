"""Cost: prices, the ledger by stage, --dry-run estimates, and --max-total-tokens / --max-cost caps,
against the stub OpenAI-compatible server."""

import itertools
import json
import random

import pytest
from click.testing import CliRunner

from batch_server import prompt_tokens
from datagen.cli import main
from datagen.errors import ConfigError
from datagen.filters import FilterConfig
from datagen.generators import get_generator
from datagen.llm import LLMConfig, make_client
from datagen.llm.ledger import Budget, BudgetExceeded, Ledger, PriceTable
from datagen.llm.base import ChatRequest
from datagen.run.job import Run, RunSettings, execute
from datagen.store import DatasetStore
from stub_server import Reply, chat_body
from test_self_instruct import SEEDS_EN, kind

WORDS = ("river market signal garden theory canvas engine ladder harbor memory planet violin ledger compass "
         "orchard puzzle lantern meadow circuit voyage archive festival glacier novel recipe satellite").split()


class Responder:
    """Self-Instruct replies made of varied words (so dedup keeps them), with prompt tokens
    counted as the estimator's chars/4 heuristic counts them."""

    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.n = itertools.count()

    def words(self, k):
        return " ".join(self.rng.choice(WORDS) for _ in range(k)) + f" {next(self.n)}"

    def __call__(self, body):
        user = body["messages"][-1]["content"] if body["messages"][-1]["role"] == "user" else body["messages"][-2]["content"]
        k = kind(user)
        if k == "bootstrap":
            text = " " + "\n".join(f"{i}. Describe how the {self.words(8)} works." for i in range(10, 14))
        elif k == "clf":
            text = "No"
        else:
            text = "The " + self.words(20) + "."
        return Reply(body=chat_body(text, prompt_tokens=prompt_tokens(body)))


def llm_cfg(stub, tmp_path, model="gpt-4o-mini", **kw):
    return LLMConfig(backend="openai", base_url=[stub.url], model=model, max_retries=0, logprobs=False,
                     cache_path=str(tmp_path / "cache.sqlite"), **kw)


def run(stub, tmp_path, num=12, model="gpt-4o-mini", gen_kw=None, **settings):
    cls = get_generator("self-instruct")
    gen = cls(cls.config_cls(seeds=str(SEEDS_EN), lang="en", **(gen_kw or {})))
    s = RunSettings(num=num, dataset="demo", store=str(tmp_path / "store"), **settings)
    return execute(Run(gen, s, llm_cfg(stub, tmp_path, model=model), FilterConfig(embed=None)))


# -- prices and the ledger -------------------------------------------------------------
def test_packaged_prices_are_dated_and_snapshots_match_their_family():
    table = PriceTable.load()
    p = table.lookup("gpt-4o-mini-2024-07-18")
    assert p is table.lookup("gpt-4o-mini") and p.input == 0.15 and p.output == 0.60 and p.as_of
    assert table.lookup("gpt-4o").input == 2.50  # not gpt-4o-mini's price by prefix
    assert table.lookup("my-finetune") is None


def test_a_user_price_file_overrides_and_extends(tmp_path, monkeypatch):
    f = tmp_path / "prices.yaml"
    f.write_text("models:\n  my-model:\n    input: 1.0\n    output: 2.0\n  gpt-4o-mini:\n    input: 9\n    output: 9\n")
    monkeypatch.setenv("DATAGEN_PRICES", str(f))
    table = PriceTable.load()
    assert table.lookup("my-model").dollars(1_000_000, 500_000) == pytest.approx(2.0)
    assert table.lookup("gpt-4o-mini").input == 9
    assert table.lookup("gpt-4o").input == 2.50


def test_unknown_model_counts_tokens_never_dollars():
    ledger = Ledger("openai", "my-finetune", "host/v1")
    ledger.record("answers", 100, 50)
    ledger.record("answers", cached=True)
    t = ledger.totals()
    assert t["tokens"] == 150 and t["cached"] == 1 and t["dollars"] is None
    assert "unknown" in ledger.as_dict()["price"]
    with pytest.raises(ConfigError, match="needs a price"):
        Ledger("openai", "my-finetune", budget=Budget(max_cost=1.0))


def test_local_backend_costs_nothing():
    ledger = Ledger("local", "SmolLM2-135M-Instruct", "local")
    ledger.record("answers", 1000, 1000)
    assert ledger.totals()["dollars"] == 0.0


def test_the_gate_stops_before_the_cap_not_after():
    ledger = Ledger("openai", "gpt-4o-mini", budget=Budget(max_tokens=1000))
    reqs = [ChatRequest.make([{"role": "user", "content": "x" * 400}], max_tokens=100)] * 4
    ledger.gate(reqs, "answers")  # ~ 4 * (107 + 50) tokens: fits
    ledger.record("answers", 800, 100)
    with pytest.raises(BudgetExceeded, match="--max-total-tokens 1000"):
        ledger.gate(reqs, "answers")


def test_run_ledger_by_stage_goes_into_summary_and_manifest(stub, tmp_path):
    stub.default = Responder()
    result = run(stub, tmp_path)
    m = result.version.manifest
    ledger = m["usage"]["ledger"]
    stages = {r["stage"] for r in ledger["stages"]}
    assert {"instructions", "classify"} <= stages
    assert ledger["total"]["tokens"] == m["usage"]["total_tokens"]
    assert ledger["total"]["dollars"] > 0 and ledger["price"]["as_of"]
    assert m["stopped"] is None
    from datagen.run.runner import format_summary

    text = format_summary(result)
    assert "cost: $" in text and "instructions" in text


# -- caps ------------------------------------------------------------------------------
def test_token_cap_stops_the_run_and_publishes_what_was_kept(stub, tmp_path):
    stub.default = Responder()
    rounds = {"batch": 2, "strict_rounds": True}  # small rounds, one at a time
    full = run(stub, tmp_path, num=30, gen_kw=rounds)
    full_tokens = full.version.manifest["usage"]["ledger"]["total"]["tokens"]
    cap = full_tokens // 2
    capped = run(stub, tmp_path / "capped", num=30, gen_kw=rounds, token_budget=cap)
    assert capped.stopped["reason"] == "budget"
    m = capped.version.manifest
    assert m["stopped"]["reason"] == "budget" and m["stopped"]["max_total_tokens"] == cap
    spent = m["usage"]["ledger"]["total"]["tokens"]
    # the gate estimates each stage's batch before it goes out: with strict rounds at most the
    # one batch in flight passes the cap (by less than a round costs)
    per_round = full_tokens / full.version.manifest["run"]["counts"]["rounds"]
    assert 0 < spent <= cap + per_round
    assert 0 < m["counts"]["added"] < full.version.manifest["counts"]["added"]
    for r in DatasetStore(str(tmp_path / "capped" / "store")).read("demo"):
        assert r.instruction and r.output  # whole records only


def test_cap_via_cli_exits_0_with_a_summary_line(stub, tmp_path):
    stub.default = Responder()
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(SEEDS_EN), "--lang", "en", "--num", "30",
                                    "--dataset", "demo", "--store", str(tmp_path / "store"), "--backend", "openai",
                                    "--base-url", stub.url, "--model", "gpt-4o-mini", "--no-embed",
                                    "--batch", "2", "--strict-rounds", "--max-total-tokens", "15000", "--cache-path", str(tmp_path / "c.sqlite")])
    assert res.exit_code == 0, res.output
    assert "stopped: budget" in res.output and "--max-total-tokens 15000" in res.output
    assert "published demo@v0001" in res.output


# -- estimate --------------------------------------------------------------------------
def test_dry_run_sends_nothing_publishes_nothing_and_prints_a_table(stub, tmp_path):
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(SEEDS_EN), "--lang", "en", "--num", "20",
                                    "--dataset", "demo", "--store", str(tmp_path / "store"), "--backend", "openai",
                                    "--base-url", stub.url, "--model", "gpt-4o-mini", "--dry-run",
                                    "--max-total-tokens", "100"])
    assert res.exit_code == 0, res.output
    assert stub.requests == []
    assert not (tmp_path / "store" / "demo").exists() or DatasetStore(str(tmp_path / "store")).versions("demo") == []
    assert "dry run: self-instruct, 20 tasks" in res.output and "instructions" in res.output
    assert "total" in res.output and "$" in res.output and "warning:" in res.output


def test_estimate_is_within_30_percent_of_the_measured_run(stub, tmp_path):
    stub.default = Responder(seed=1)
    run(stub, tmp_path, num=20)  # v0001: its manifest is the history the estimate learns from
    est = run(stub, tmp_path, num=20, dry_run=True).estimate
    before = len(stub.requests)
    assert est["history"] == ["v0001"]
    measured = run(stub, tmp_path, num=20).version.manifest["usage"]["ledger"]["total"]
    assert len(stub.requests) > before
    mid = (est["total"]["low"]["tokens"] + est["total"]["high"]["tokens"]) / 2
    assert abs(mid - measured["tokens"]) <= 0.3 * measured["tokens"], (est["total"], measured)
    mid_req = (est["total"]["low"]["requests"] + est["total"]["high"]["requests"]) / 2
    assert abs(mid_req - measured["requests"]) <= 0.3 * measured["requests"]


# -- rate limits -----------------------------------------------------------------------
def test_server_delay_reads_retry_after_and_ratelimit_reset():
    from datagen.llm.ratelimit import server_delay

    assert server_delay({"retry-after": "2"}) == 2.0
    assert server_delay({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0.5s"}) == 60.5
    assert server_delay({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "250ms"}) == 0.25
    assert server_delay({"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "1s"}) is None


def test_a_429_with_retry_after_pauses_the_client_once(stub, tmp_path):
    from stub_server import error_body

    stub.enqueue(Reply(status=429, body=error_body(429, "slow down"), headers={"Retry-After": "0.2"}))
    cfg = llm_cfg(stub, tmp_path, rpm=600, tpm=100000)
    cfg.max_retries = 2
    client = make_client(cfg)
    client.retry_max_wait = 0.01
    try:
        out = client.chat_many([ChatRequest.make([{"role": "user", "content": "hi"}], max_tokens=8)])
        assert out[0][0].text == "ok" and len(stub.requests) == 2
        assert client.limiter.pauses == 1 and client.limiter.rpm == 600
    finally:
        client.close()


def test_dry_run_counts_what_the_cache_already_answers(stub, tmp_path):
    stub.default = Responder()
    cls = get_generator("self-instruct")

    def go(**kw):
        gen = cls(cls.config_cls(seeds=str(SEEDS_EN), lang="en"))
        return execute(Run(gen, RunSettings(num=6, out=str(tmp_path / "o.jsonl"), **kw), llm_cfg(stub, tmp_path),
                           FilterConfig(embed=None)))

    assert go().ledger["total"]["requests"] > 0
    sent = len(stub.requests)
    est = go(dry_run=True).estimate
    assert len(stub.requests) == sent
    # the first round's prompts are the run's own (same seed): the cache answers them, $0
    assert est["probe"]["cached"] > 0
