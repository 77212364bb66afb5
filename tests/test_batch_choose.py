"""--batch-api for fixed-choice questions (choose_many: classification, judges), against the
loopback Files + Batches fake (tests/batch_server.py), which serves no /chat/completions:
an online request there fails."""

import json

import pytest

from batch_server import FakeBatchServer, odd_prompt
from test_batch import batch_client

OPTIONS = ["Yes", "No"]


def clf(body):
    return "Yes" if "even" in body["messages"][-2]["content"] else "No"


def items_for(n):
    return [([{"role": "user", "content": f"Is task {i} {'even' if i % 2 == 0 else 'odd'}?"}], "Answer:")
            for i in range(n)]


@pytest.fixture
def fake():
    with FakeBatchServer(clf) as s:
        yield s


def test_choose_many_is_one_job_with_the_choose_body_and_caches_choices(fake, tmp_path):
    client = batch_client(fake.url, tmp_path)
    out = client.choose_many(items_for(4), OPTIONS)
    assert [c.option for c in out] == ["Yes", "No", "Yes", "No"]
    assert [c.raw for c in out] == ["Yes", "No", "Yes", "No"]
    assert fake.posted_batches == 1
    rows = [json.loads(line) for line in fake.uploads[0].splitlines()]
    assert len(rows) == 4 and {r["url"] for r in rows} == {"/v1/chat/completions"}
    body = rows[0]["body"]
    assert body["max_tokens"] == 8 and body["temperature"] == 0.0
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["messages"][-1] == {"role": "assistant", "content": "Answer:"}  # the prefill
    [row] = client.usage.ledger.as_dict()["stages"]
    assert (row["stage"], row["mode"], row["requests"], row["cached"]) == ("classify", "batch", 4, 0)
    assert row["prompt_tokens"] > 0
    # again, with one new question: only that one goes into a job
    out2 = client.choose_many(items_for(5), OPTIONS)
    assert [c.option for c in out2] == ["Yes", "No", "Yes", "No", "Yes"]
    assert fake.posted_batches == 2 and len(fake.uploads[1].splitlines()) == 1
    # the online client finds the same cache entries (same key): no request goes out
    online = client.online.choose_many(items_for(5), OPTIONS)
    assert [c.option for c in online] == [c.option for c in out2]
    client.close()


def test_duplicate_questions_are_one_row(fake, tmp_path):
    client = batch_client(fake.url, tmp_path)
    items = items_for(2) * 3
    out = client.choose_many(items, OPTIONS)
    assert [c.option for c in out] == ["Yes", "No"] * 3
    assert len(fake.uploads[0].splitlines()) == 2
    client.close()


def test_rows_failing_every_job_have_no_option_without_fallback(fake, tmp_path):
    fake.fail = lambda body, attempt: odd_prompt(body)
    client = batch_client(fake.url, tmp_path)
    out = client.choose_many(items_for(8), OPTIONS)
    assert fake.posted_batches == 2  # one resubmission, bounded
    missing = [c for c in out if c.option is None]
    assert len(missing) == 4 and all(c.raw == "" and c.scores == {} for c in missing)
    assert all(c.option in OPTIONS for c in out if c not in missing)
    client.close()


def test_rows_failing_every_job_go_online_with_fallback(fake, tmp_path, stub):
    fake.fail = lambda body, attempt: odd_prompt(body)
    stub.default = lambda body: "No"
    client = batch_client(fake.url, tmp_path, batch_fallback="online")
    client.online.base_urls = [stub.url]
    out = client.choose_many(items_for(8), OPTIONS)
    assert all(c.option in OPTIONS for c in out)
    assert len(stub.requests) == 4 and all(b["max_tokens"] == 8 for b in stub.requests)
    modes = {r["mode"]: r["requests"] for r in client.usage.ledger.as_dict()["stages"]}
    assert modes["online"] == len(stub.requests) and modes["batch"] == 8 - len(stub.requests)
    client.close()


def test_self_instruct_classification_goes_through_the_batch(tmp_path):
    """A whole Self-Instruct run with batch_api sends every request, the classification
    included, through jobs: the fake has no /chat/completions, so an online call would fail."""
    from datagen.filters import FilterConfig
    from datagen.generators import get_generator
    from datagen.llm import LLMConfig
    from datagen.run.job import Run, RunSettings, execute
    from test_self_instruct import SEEDS_EN

    words = iter(range(10_000))

    def respond(body):
        if body.get("max_tokens") == 8:
            return "No"
        if "Continue the numbered list" in str(body["messages"]):
            return " " + "\n".join(f"{i}. Describe the {w} number {next(words)} in detail." for i, w in
                                   zip(range(10, 13), ("river", "market", "signal")))
        return f"An answer, {next(words)}."

    cls = get_generator("self-instruct")
    with FakeBatchServer(respond) as fake:
        cfg = LLMConfig(backend="openai", base_url=[fake.url], model="gpt-4o-mini", batch_api=True, batch_poll=0.01,
                        max_retries=0, cache_path=str(tmp_path / "c.sqlite"))
        res = execute(Run(cls(cls.config_cls(seeds=str(SEEDS_EN), lang="en")),
                          RunSettings(num=2, out=str(tmp_path / "data.jsonl")), cfg, FilterConfig(embed=None)))
        uploads = [json.loads(line) for up in fake.uploads for line in up.splitlines()]
    assert res.kept  # (later rounds repeat the same words; ROUGE drops them)
    clf_rows = [r for r in uploads if r["body"].get("max_tokens") == 8]
    assert clf_rows and all(r["body"].get("logprobs") for r in clf_rows)
    stages = {r["stage"]: r for r in res.ledger["stages"]}
    assert stages["classify"]["mode"] == "batch" and stages["classify"]["requests"] == len(clf_rows)
    assert {r["mode"] for r in res.ledger["stages"]} == {"batch"}
