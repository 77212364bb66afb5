"""llm/base.py's Usage: its counts are read from the client's ledger (llm/ledger.py), so the
summary's totals and the manifest's ledger rows cannot disagree; against the real stub
server, with retried and cached calls."""

from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest, Usage
from datagen.llm.cache import ResponseCache
from datagen.llm.openai_compat import OpenAIChatClient
from stub_server import Reply, chat_body, error_body

COUNTS = ("requests", "cached", "retries", "prompt_tokens", "completion_tokens")


def requests_for(n):
    return [ChatRequest.make([{"role": "user", "content": f"prompt {i}"}]) for i in range(n)]


def row_sums(rows):
    return {k: sum(r[k] for r in rows) for k in (*COUNTS, "sent")}


def rate_limited():
    return Reply(status=429, body=error_body(429, "slow down"), headers={"Retry-After": "0"})


def test_usage_totals_are_the_sum_of_the_ledger_rows_after_retried_and_cached_calls(stub, tmp_path):
    stub.enqueue(rate_limited(), rate_limited(), Reply(body=chat_body("one", prompt_tokens=7, completion_tokens=3)))
    stub.default = lambda body: Reply(body=chat_body("ok", prompt_tokens=5, completion_tokens=2))
    client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="gpt-4o-mini", max_retries=3,
                                   logprobs=False, cache_path=str(tmp_path / "cache.sqlite")))
    try:
        client.chat_many(requests_for(4), desc="instructions")
        client.chat_many(requests_for(6), desc="instructions")  # 4 of them answered from the cache
        client.choose([{"role": "user", "content": "Is it? Yes or No."}], ["Yes", "No"])
    finally:
        client.close()
    ledger = client.usage.ledger.as_dict()
    sums = row_sums(ledger["stages"])
    assert {r["stage"] for r in ledger["stages"]} == {"instructions", "classify"}
    usage = client.usage.as_dict()
    assert {k: usage[k] for k in COUNTS} == {k: sums[k] for k in COUNTS}
    assert usage["total_tokens"] == ledger["total"]["tokens"]
    assert client.usage.sent_requests == sums["sent"] == len(stub.requests) == 9
    # and the figures themselves: 7 calls sent (2 retried), 4 cached
    assert (usage["requests"], usage["cached"], usage["retries"]) == (7, 4, 2)
    assert usage["prompt_tokens"] == 7 + 6 * 5 and usage["completion_tokens"] == 3 + 6 * 2


def test_a_client_made_without_a_ledger_still_counts_in_its_accounts(stub, tmp_path):
    stub.enqueue(rate_limited(), Reply(body=chat_body("one", prompt_tokens=4, completion_tokens=1)))
    client = OpenAIChatClient(model="stub-model", base_urls=[stub.url], cache=ResponseCache(tmp_path / "c.sqlite"),
                              retry_max_wait=0.02)
    try:
        client.chat_many(requests_for(1))
        client.chat_many(requests_for(1))
    finally:
        client.close()
    assert client.usage.ledger is None  # no ledger shown in a manifest; the counts still kept
    assert client.usage.as_dict() == {"requests": 1, "cached": 1, "prompt_tokens": 4, "completion_tokens": 1,
                                      "total_tokens": 5, "retries": 1}
    assert row_sums(client.usage.accounts.as_dict()["stages"])["sent"] == client.usage.sent_requests == 2


def test_setting_a_ledger_replaces_the_accounts_the_counts_are_read_from():
    from datagen.llm.ledger import Ledger, PriceTable

    usage = Usage()
    usage.add([], cached=True)
    assert usage.cached == 1
    usage.ledger = Ledger("openai", "m", prices=PriceTable({}))
    assert usage.cached == 0 and usage.ledger is usage.accounts
    usage.ledger = None
    assert usage.ledger is None and usage.requests == 0
