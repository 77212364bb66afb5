"""--batch-api against a loopback fake of the Files + Batches API (tests/batch_server.py)."""

import json

import pytest

from batch_server import FakeBatchServer, odd_prompt
from datagen.llm.stages import INSTRUCTIONS
from datagen.errors import LLMError
from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest
from datagen.llm.batch import BatchChatClient
from datagen.llm.cache import ResponseCache


def echo(body):
    return "re: " + body["messages"][-1]["content"]


def requests_for(n):
    return [ChatRequest.make([{"role": "user", "content": f"prompt {i}"}], max_tokens=16) for i in range(n)]


@pytest.fixture
def fake():
    with FakeBatchServer(echo) as s:
        yield s


def batch_client(url, tmp_path, model="gpt-4o-mini", **kw):
    cfg = LLMConfig(backend="openai", base_url=[url], model=model, batch_api=True,
                    cache_path=str(tmp_path / "cache.sqlite"), max_retries=0, **kw)
    client = make_client(cfg, batch_state=tmp_path / "ds" / ".batches.json")
    assert isinstance(client, BatchChatClient)
    client.poll, client.progress = 0.01, False
    return client


def test_a_stage_is_one_job_and_answers_come_from_the_cache(fake, tmp_path):
    client = batch_client(fake.url, tmp_path)
    out = client.chat_many(requests_for(5), desc=INSTRUCTIONS.at_round(1))
    assert [c[0].text for c in out] == [f"re: prompt {i}" for i in range(5)]
    assert fake.posted_batches == 1
    rows = [json.loads(line) for line in fake.uploads[0].splitlines()]
    assert len(rows) == 5 and rows[0]["url"] == "/v1/chat/completions" and rows[0]["body"]["model"] == "gpt-4o-mini"
    assert not (tmp_path / "ds" / ".batches.json").exists() or json.loads(
        (tmp_path / "ds" / ".batches.json").read_text()) == {}
    # asked again: answered by the cache, no second job, counted as cached
    client.chat_many(requests_for(5), desc=INSTRUCTIONS.at_round(1))
    assert fake.posted_batches == 1
    [row] = client.usage.ledger.as_dict()["stages"]
    assert row["stage"] == "instructions" and row["mode"] == "batch"
    assert row["requests"] == 5 and row["cached"] == 5
    client.close()


def test_the_ledger_charges_the_batch_price(fake, tmp_path):
    client = batch_client(fake.url, tmp_path)
    client.chat_many(requests_for(4), desc="answers")
    [row] = client.usage.ledger.as_dict()["stages"]
    pt, ct = row["prompt_tokens"], row["completion_tokens"]
    assert pt > 0 and ct > 0
    full = (pt * 0.15 + ct * 0.60) / 1e6  # gpt-4o-mini list price, prices.yaml
    assert row["dollars"] == pytest.approx(full * 0.5, abs=1e-8)
    assert client.usage.ledger.as_dict()["price"]["batch_discount"] == 0.5
    client.close()


def test_a_killed_poll_resumes_the_same_job_without_resubmitting(fake, tmp_path):
    fake.hold = True
    first = batch_client(fake.url, tmp_path)
    first.poll_timeout = 0.05
    with pytest.raises(LLMError, match="run the same command again"):
        first.chat_many(requests_for(3), desc="answers")
    first.close()
    state = json.loads((tmp_path / "ds" / ".batches.json").read_text())
    assert len(state) == 1 and fake.posted_batches == 1
    # the process is gone; a new one builds the same requests and finds the job
    fake.hold = False
    second = batch_client(fake.url, tmp_path)
    out = second.chat_many(requests_for(3), desc="answers")
    assert fake.posted_batches == 1, "resubmitted instead of resuming"
    assert [c[0].text for c in out] == [f"re: prompt {i}" for i in range(3)]
    assert json.loads((tmp_path / "ds" / ".batches.json").read_text()) == {}
    second.close()


def test_failed_rows_are_resubmitted_once_in_a_new_job(fake, tmp_path):
    fake.fail = lambda body, attempt: attempt == 1 and odd_prompt(body)
    client = batch_client(fake.url, tmp_path)
    out = client.chat_many(requests_for(8), desc="answers")
    assert fake.posted_batches == 2
    second_job = fake.uploads[1].splitlines()
    assert len(second_job) == 4  # only the failed rows
    assert all(c[0].text.startswith("re: prompt") for c in out)
    client.close()


def test_expired_rows_without_fallback_come_back_empty(fake, tmp_path):
    fake.fail = lambda body, attempt: odd_prompt(body)  # these fail in every job
    client = batch_client(fake.url, tmp_path)
    out = client.chat_many(requests_for(8), desc="answers")
    failed = [c for c in out if c[0].finish_reason == "error"]
    assert len(failed) == 4 and all(c[0].text == "" for c in failed)
    assert fake.posted_batches == 2  # one resubmission, bounded
    client.close()


def test_rows_failing_every_job_go_online_with_fallback(fake, tmp_path, stub):
    # the fake batch endpoint expires every job half done; the online client is the chat stub
    fake.expire_next = True
    stub.default = lambda body: "online: " + body["messages"][-1]["content"]
    client = batch_client(fake.url, tmp_path, batch_fallback="online")
    client.online.base_urls = [stub.url]
    fake_fail_all_second = lambda body, attempt: attempt >= 2  # noqa: E731
    fake.fail = fake_fail_all_second
    out = client.chat_many(requests_for(6), desc="answers")
    texts = [c[0].text for c in out]
    assert sum(t.startswith("re: ") for t in texts) == 3  # the half the expired job did
    assert sum(t.startswith("online: ") for t in texts) == 3
    assert len(stub.requests) == 3
    modes = {r["mode"]: r["requests"] for r in client.usage.ledger.as_dict()["stages"]}
    assert modes == {"batch": 3, "online": 3}
    client.close()


def test_batch_api_needs_the_openai_backend_and_the_cache(tmp_path):
    from datagen.errors import ConfigError

    with pytest.raises(ConfigError, match="openai backend"):
        make_client(LLMConfig(backend="local", batch_api=True))
    with pytest.raises(ConfigError, match="cache"):
        make_client(LLMConfig(backend="openai", base_url=["http://127.0.0.1:9/v1"], batch_api=True, cache=False))


def test_export_import_round_trip_for_servers_without_batches(stub, tmp_path):
    """vLLM serves no /v1/batches: export a stage's request file, run it elsewhere (here: a
    fake run_batch), import the results, export again, until the run completes from the cache."""
    from click.testing import CliRunner

    from batch_server import prompt_tokens
    from datagen.cli import main
    from stub_server import chat_body
    from test_self_instruct import SEEDS_EN

    stub.default = lambda body: "No"  # fixed-choice questions still go online
    req, out = tmp_path / "req.jsonl", tmp_path / "out.jsonl"
    cache = str(tmp_path / "c.sqlite")
    args = ["self-instruct", "--seeds", str(SEEDS_EN), "--lang", "en", "--num", "4", "--batch", "2",
            "--out", str(tmp_path / "data.jsonl"), "--backend", "openai", "--base-url", stub.url,
            "--model", "gpt-4o-mini", "--no-embed", "--cache-path", cache]
    exported = 0
    for _ in range(40):
        res = CliRunner().invoke(main, ["batch", "export", str(req), *args])
        assert res.exit_code == 0, res.output
        if "nothing left to export" in res.output:
            break
        assert "requests to" in res.output and "batch import" in res.output
        exported += 1
        rows = [json.loads(line) for line in req.read_text().splitlines()]
        with out.open("w") as f:  # what vLLM's run_batch writes
            for i, row in enumerate(rows):
                text = f" Describe item {i} of batch {exported} in detail." if "Continue" in str(row["body"]) \
                    else f"Answer {i} of batch {exported}."
                body = chat_body([text] * row["body"].get("n", 1), prompt_tokens=prompt_tokens(row["body"]))
                f.write(json.dumps({"custom_id": row["custom_id"], "response": {"status_code": 200, "body": body}}) + "\n")
        res = CliRunner().invoke(main, ["batch", "import", str(req), str(out), "--cache-path", cache])
        assert res.exit_code == 0 and f"imported {len(rows)} of {len(rows)}" in res.output, res.output
    else:
        pytest.fail("export never finished")
    assert exported >= 2  # one file per stage
    assert (tmp_path / "data.jsonl").exists()
    chat_calls = [b for b in stub.requests if b.get("max_tokens") != 8]
    assert chat_calls == []  # every chat request went through the files, none online
