"""The openai backend against a real HTTP server on 127.0.0.1 (tests/stub_server.py)."""

import pytest

from datagen.errors import LLMError
from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest, chat, match_option
from datagen.llm.cache import ResponseCache
from datagen.llm.openai_compat import OpenAIChatClient
from stub_server import Reply, StubLLMServer, chat_body, error_body

USER = [{"role": "user", "content": "Say something."}]


_open_clients: list = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open_clients:
        _open_clients.pop().close()


def client_for(*urls, cache=None, **kw) -> OpenAIChatClient:
    kw.setdefault("retry_max_wait", 0.02)
    kw.setdefault("max_retries", 4)
    client = OpenAIChatClient(model="stub-model", base_urls=list(urls), cache=cache, **kw)
    _open_clients.append(client)
    return client


def requests_for(n, **kw):
    return [ChatRequest.make([{"role": "user", "content": f"prompt {i}"}], **kw) for i in range(n)]


def echo_prompt(body):
    return "re: " + body["messages"][-1]["content"]


# -- retries -----------------------------------------------------------------------------
def test_retries_on_429_500_and_garbled_bodies_then_succeeds(stub):
    stub.enqueue(
        Reply(status=429, body=error_body(429, "rate limited"), headers={"Retry-After": "0"}),
        Reply(status=500, body=error_body(500, "internal")),
        Reply(status=503, raw=b"upstream unavailable"),
        Reply(raw=b"{not json"),
        Reply(raw=b'{"choices": []}'),
        Reply(body=chat_body("finally", prompt_tokens=7, completion_tokens=2)),
    )
    client = client_for(stub.url, max_retries=6)
    [[out]] = client.chat_many(requests_for(1))
    assert out.text == "finally" and out.finish_reason == "stop"
    assert len(stub.requests) == 6
    assert client.usage.as_dict() == {
        "requests": 1, "cached": 0, "prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9, "retries": 5,
    }
    assert client.usage.sent_requests == len(stub.requests)  # every attempt was sent


def test_timeouts_are_retried(stub):
    # the retry must be answered within the timeout too: 1 s leaves a loaded CI machine room
    # (at 0.3 s a stall there could time the retry out as well: a third request)
    stub.enqueue(Reply(body=chat_body("too late"), delay=5.0))
    client = client_for(stub.url, timeout=1.0)
    assert chat(client, USER)[0].text == "ok"
    assert len(stub.requests) == 2
    assert client.usage.retries == 1


def test_gives_up_after_max_retries_with_clear_message(stub):
    stub.default = lambda body: Reply(status=500, body=error_body(500, "model crashed"))
    client = client_for(stub.url, max_retries=2)
    with pytest.raises(LLMError) as err:
        chat(client, USER)
    assert len(stub.requests) == 3
    msg = str(err.value)
    assert "gave up after retries" in msg and "HTTP 500" in msg and "model crashed" in msg
    assert stub.url in msg and "\n" not in msg


@pytest.mark.parametrize("status, hint", [(400, "rejected"), (401, "OPENAI_API_KEY"), (403, "may not use"),
                                          (404, "--model")])
def test_client_errors_are_not_retried(stub, status, hint):
    stub.enqueue(Reply(status=status, body=error_body(status, "Incorrect API key provided")))
    client = client_for(stub.url, max_retries=5)
    with pytest.raises(LLMError) as err:
        chat(client, USER)
    assert len(stub.requests) == 1
    msg = str(err.value)
    assert f"HTTP {status}" in msg and "not retried" in msg and hint in msg
    assert "Incorrect API key provided" in msg
    assert "Error code" not in msg  # the SDK's prefix would say the status twice


def test_connection_refused_is_an_llm_error():
    with StubLLMServer() as s:
        dead = s.url
    client = client_for(dead, max_retries=1)
    with pytest.raises(LLMError) as err:
        chat(client, USER)
    msg = str(err.value)
    assert "tried 2 times" in msg and dead in msg
    assert "connection refused" in msg  # the root cause, whichever transport reported it


def test_one_failure_stops_the_batch_and_keeps_what_was_paid_for(stub, tmp_path):
    stub.responder = lambda body: (Reply(status=401, body=error_body(401, "bad key"))
                                   if body["messages"][-1]["content"] == "prompt 3" else echo_prompt(body))
    cache = ResponseCache(tmp_path / "c.sqlite")
    client = client_for(stub.url, cache=cache, concurrency=1)
    with pytest.raises(LLMError, match="HTTP 401"):
        client.chat_many(requests_for(6))
    assert 3 <= len(cache) < 6  # the answers before the failure are cached, none after it


# -- concurrency, usage, n, prefill ----------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_is_bounded(stub, concurrency):
    stub.default = lambda body: Reply(body=chat_body(echo_prompt(body)), delay=0.08)
    client = client_for(stub.url, concurrency=concurrency)
    results = client.chat_many(requests_for(10))
    assert [r[0].text for r in results] == [f"re: prompt {i}" for i in range(10)]  # order kept
    assert len(stub.requests) == 10
    assert stub.peak_in_flight <= concurrency
    if concurrency > 1:
        assert stub.peak_in_flight >= 2  # and it does run requests side by side


def test_usage_is_summed_across_calls(stub):
    stub.default = lambda body: Reply(body=chat_body("a b c", prompt_tokens=11, completion_tokens=3))
    client = client_for(stub.url)
    client.chat_many(requests_for(4))
    chat(client, USER)
    assert client.usage.as_dict() == {
        "requests": 5, "cached": 0, "prompt_tokens": 55, "completion_tokens": 15, "total_tokens": 70, "retries": 0,
    }


def test_n_completions_in_one_request(stub):
    stub.default = lambda body: Reply(body=chat_body([f"answer {i}" for i in range(body.get("n", 1))],
                                                     prompt_tokens=9, completion_tokens=6))
    client = client_for(stub.url)
    outs = chat(client, USER, n=3, temperature=1.0, max_tokens=32, stop=["\n\n"], seed=5)
    assert [o.text for o in outs] == ["answer 0", "answer 1", "answer 2"]
    sent = stub.requests[0]
    assert (sent["n"], sent["temperature"], sent["max_tokens"], sent["stop"], sent["seed"]) == (3, 1.0, 32, ["\n\n"], 5)
    assert sent["model"] == "stub-model"
    assert client.usage.prompt_tokens == 9 and client.usage.completion_tokens == 6
    assert (client.usage.requests, client.usage.sent_requests) == (1, 1)


def test_n_on_a_server_that_ignores_it(stub):
    # llama.cpp and Ollama answer one choice whatever n is, and honour the seed: the rest
    # are asked side by side, each with its own seed, or they would all be the same text
    stub.default = lambda body: Reply(body=chat_body(f"seed {body['seed']} n {body['n']}", prompt_tokens=5,
                                                     completion_tokens=4), delay=0.3)
    client = client_for(stub.url)
    outs = chat(client, USER, n=3, seed=5)
    assert [o.text for o in outs] == ["seed 5 n 3", "seed 6 n 1", "seed 7 n 1"]
    assert [b["n"] for b in stub.requests] == [3, 1, 1]
    assert stub.peak_in_flight == 2  # the two re-asks went out together
    assert client.usage.prompt_tokens == 15 and client.usage.completion_tokens == 12
    # one call, three requests on the wire: throughput counts what was sent
    assert (client.usage.requests, client.usage.sent_requests) == (1, 3)
    # once known, the next call sends its n requests at once
    outs = chat(client, USER, n=3, seed=9)
    assert [o.text for o in outs] == ["seed 9 n 1", "seed 10 n 1", "seed 11 n 1"]
    assert [b["n"] for b in stub.requests[3:]] == [1, 1, 1]
    assert stub.peak_in_flight == 3
    assert (client.usage.requests, client.usage.sent_requests) == (2, 6)


def test_n_on_a_server_that_ignores_it_without_a_seed(stub):
    stub.default = lambda body: Reply(body=chat_body(f"one of {body['n']}"))
    outs = chat(client_for(stub.url), USER, n=2)
    assert [o.text for o in outs] == ["one of 2", "one of 1"]
    assert all("seed" not in b for b in stub.requests)


def test_finish_reason_length(stub):
    stub.enqueue(Reply(body=chat_body("cut of", finish_reason="length")))
    assert chat(client_for(stub.url), USER)[0].finish_reason == "length"


def test_prefill_is_sent_as_trailing_assistant_message(stub):
    stub.default = lambda body: " Write a poem about rain.\n10. Name a river."
    client = client_for(stub.url)
    [out] = chat(client, USER, prefill="9.")
    assert stub.requests[0]["messages"] == USER + [{"role": "assistant", "content": "9."}]
    assert out.text == "9. Write a poem about rain.\n10. Name a river."


def test_prefill_not_doubled_when_the_server_echoes_it(stub):
    stub.default = lambda body: "9. Write a poem."
    [out] = chat(client_for(stub.url), USER, prefill="9.")
    assert out.text == "9. Write a poem."


def test_no_trailing_message_without_prefill(stub):
    chat(client_for(stub.url), USER)
    assert stub.requests[0]["messages"] == USER


# -- choose ------------------------------------------------------------------------------
def logprob_body(text, tops):
    body = chat_body(text)
    body["choices"][0]["logprobs"] = {"content": [{
        "token": text[:3], "logprob": max(tops.values()), "bytes": None,
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in tops.items()],
    }]}
    return body


def test_choose_parses_the_reply(stub):
    stub.enqueue(Reply(body=chat_body("**No**, it is not.")))
    client = client_for(stub.url)
    choice = client.choose(USER, ["Yes", "No"])
    assert choice.option == "No" and choice.raw == "**No**, it is not." and choice.scores == {}
    sent = stub.requests[0]
    assert sent["temperature"] == 0.0 and sent["logprobs"] is True and sent["top_logprobs"] >= 2
    assert (client.usage.requests, client.usage.sent_requests) == (1, 1)


def test_choose_uses_logprobs_when_offered(stub):
    stub.enqueue(Reply(body=logprob_body("Yes", {"Yes": -0.2, " No": -1.8, "Maybe": -3.0})))
    choice = client_for(stub.url).choose(USER, ["Yes", "No"])
    assert choice.option == "Yes"
    assert choice.scores == {"Yes": pytest.approx(-0.2), "No": pytest.approx(-1.8)}


def test_choose_falls_back_to_logprobs_when_the_reply_names_no_option(stub):
    stub.enqueue(Reply(body=logprob_body("Hmm, hard to say", {"Hmm": -0.5, "No": -1.0, "Yes": -2.0})))
    choice = client_for(stub.url).choose(USER, ["Yes", "No"])
    assert choice.option == "No"


@pytest.mark.parametrize("reply, options, expected", [
    ("I cannot answer that.", ["Yes", "No"], None),  # "no" inside "cannot" is not an answer
    ("not sure, maybe yes", ["Yes", "No"], "Yes"),
    ("Yesterday", ["Yes", "No"], None),
    ("No, never.", ["Yes", "No"], "No"),
    ("The answer is: negative", ["Positive", "Negative"], "Negative"),
    ("'B'", ["A", "B", "C"], "B"),
    ("Not applicable here", ["No", "Not applicable"], "Not applicable"),
    ("答案：是", ["是", "否"], "是"),
])
def test_match_option(reply, options, expected):
    assert match_option(reply, options) == expected


def test_choose_none_when_nothing_matches(stub):
    stub.enqueue(Reply(body=chat_body("I cannot answer that.")))
    assert client_for(stub.url).choose(USER, ["Yes", "No"]).option is None


def test_choose_with_prefill_and_without_logprobs(stub):
    stub.enqueue(Reply(body=chat_body(" Negative")))
    client = client_for(stub.url, logprobs=False)
    choice = client.choose(USER, ["Positive", "Negative"], prefill="Sentiment:")
    assert choice.option == "Negative"
    sent = stub.requests[0]
    assert sent["messages"][-1] == {"role": "assistant", "content": "Sentiment:"}
    assert "logprobs" not in sent


def test_choose_many_is_bounded_and_ordered(stub):
    stub.default = lambda body: Reply(body=chat_body("Yes" if "even" in body["messages"][-1]["content"] else "No"),
                                      delay=0.1)
    client = client_for(stub.url, concurrency=3)
    items = [([{"role": "user", "content": f"{i} is {'even' if i % 2 == 0 else 'odd'}"}], "") for i in range(9)]
    choices = client.choose_many(items, ["Yes", "No"])
    assert [c.option for c in choices] == ["Yes", "No"] * 4 + ["Yes"]
    assert stub.peak_in_flight <= 3
    assert client.usage.requests == 9


# -- several endpoints ---------------------------------------------------------------------
def test_requests_are_spread_over_base_urls():
    with StubLLMServer(default=lambda b: "from a") as a, StubLLMServer(default=lambda b: "from b") as b:
        client = client_for(a.url, b.url, concurrency=4)
        outs = client.chat_many(requests_for(10))
    assert len(a.requests) == 5 and len(b.requests) == 5
    assert {o[0].text for o in outs} == {"from a", "from b"}


def test_a_failing_endpoint_is_retried_elsewhere():
    def broken(body):
        return Reply(status=500, body=error_body(500, "replica down"))

    with StubLLMServer(default=broken) as bad, StubLLMServer(default=echo_prompt) as good:
        client = client_for(bad.url, good.url, concurrency=4, max_retries=2)
        outs = client.chat_many(requests_for(10))
    assert [o[0].text for o in outs] == [f"re: prompt {i}" for i in range(10)]
    assert len(good.requests) == 10
    assert 1 <= len(bad.requests) <= 10
    assert client.usage.retries == len(bad.requests)


def test_make_client_reads_key_and_url_from_env(stub, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    cfg = LLMConfig(backend="openai", model="m1", cache_path=str(tmp_path / "c.sqlite"))
    client = make_client(cfg)
    try:
        assert chat(client, USER)[0].text == "ok"
    finally:
        client.close()
    assert stub.requests[0]["model"] == "m1"
    assert cfg.public()["base_url"] == [stub.url]
    assert "sk-from-env" not in repr(cfg.public())


def test_choose_many_under_a_cap_goes_out_in_waves(stub):
    # a cap that fits two fixed-choice questions at their first estimate (prompt by chars/4,
    # half of max_tokens): those go out, their replies say what the stage costs (10 + 1
    # tokens here), and the rest follow; before, the rest came back "not asked" as if refused
    from datagen.llm.ledger import NOT_ASKED, Budget

    stub.default = lambda body: "No"
    client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="gpt-4o-mini", max_retries=0,
                                   logprobs=False, cache=False), budget=Budget(max_tokens=300))
    _open_clients.append(client)
    items = [([{"role": "user", "content": "x" * 400 + f" task {i}"}], "") for i in range(6)]
    choices = client.choose_many(items, ["Yes", "No"])
    assert [c.option for c in choices] == ["No"] * 6 and NOT_ASKED not in [c.raw for c in choices]
    assert len(stub.requests) == 6 and not client.usage.ledger.stopped
    # a cap that is really reached: the first wave goes out, the rest is refused and the run stops
    tight = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="gpt-4o-mini", max_retries=0,
                                  logprobs=False, cache=False), budget=Budget(max_tokens=40))
    _open_clients.append(tight)
    before = len(stub.requests)
    small = [([{"role": "user", "content": f"task {i}"}], "") for i in range(20)]
    choices = tight.choose_many(small, ["Yes", "No"])
    sent = len(stub.requests) - before
    assert 0 < sent < 20 and [c.raw for c in choices[sent:]] == [NOT_ASKED] * (20 - sent)
    assert tight.usage.ledger.stopped and tight.usage.ledger.totals()["tokens"] <= 40
