"""The sqlite response cache: a re-run never pays twice, and no secret is ever stored."""

import pytest

from datagen.errors import ConfigError
from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest, Completion, chat
from datagen.llm.cache import ResponseCache, default_cache_path, request_key
from datagen.llm.openai_compat import OpenAIChatClient
from stub_server import StubLLMServer, chat_body, Reply

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
SECRET = "sk-test-DO-NOT-STORE-4f9a1c77e2"


def key(**kw):
    backend = kw.pop("backend", "openai")
    model = kw.pop("model", "m")
    messages = kw.pop("messages", MSGS)
    return request_key(backend, model, ChatRequest.make(messages, **kw))


def test_key_is_stable_and_covers_every_field():
    base = key(seed=1)
    assert base == key(seed=1)
    variants = [
        key(seed=2), key(), key(seed=1, backend="local"), key(seed=1, model="m2"),
        key(seed=1, messages=MSGS[:1] + [{"role": "user", "content": "Name a color."}]),
        key(seed=1, temperature=0.2), key(seed=1, max_tokens=17), key(seed=1, n=2), key(seed=1, top_p=0.9),
        key(seed=1, stop=["\n"]), key(seed=1, prefill="Red"),
        request_key("openai", "m", ChatRequest.make(MSGS, seed=1), kind="choose:Yes|No"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_roles_are_part_of_the_key():
    a = request_key("openai", "m", ChatRequest.make([{"role": "user", "content": "x"}]))
    b = request_key("openai", "m", ChatRequest.make([{"role": "system", "content": "x"}]))
    assert a != b


def test_hit_miss_and_reopen(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    k = key(seed=3)
    assert cache.get(k) is None and cache.misses == 1
    cache.put(k, [Completion("红色", prompt_tokens=5, completion_tokens=2), Completion("blue", finish_reason="length")])
    got = cache.get(k)
    assert cache.hits == 1
    assert [(c.text, c.finish_reason, c.cached) for c in got] == [("红色", "stop", True), ("blue", "length", True)]
    assert got[0].prompt_tokens == 5
    cache.put_json("other", {"option": "Yes", "scores": {"Yes": -0.1}})
    cache.close()

    again = ResponseCache(path)
    assert len(again) == 2
    assert again.get(k)[0].text == "红色"
    assert again.get_json("other") == {"option": "Yes", "scores": {"Yes": -0.1}}
    assert again.get_json("missing") is None
    again.close()


def test_default_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_path() == tmp_path / "here" / "responses.sqlite"
    monkeypatch.delenv("DATAGEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "datagen" / "responses.sqlite"


def test_unusable_cache_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a sqlite database, just some bytes" * 4)
    with pytest.raises(ConfigError, match=r"bad.sqlite: file is not a database .*--no-cache"):
        ResponseCache(bad)


def test_a_rerun_is_served_from_the_cache(stub, tmp_path):
    stub.default = lambda body: Reply(body=chat_body(f"answer to {body['messages'][-1]['content']}", prompt_tokens=8,
                                                     completion_tokens=3))
    reqs = [ChatRequest.make([{"role": "user", "content": f"q{i}"}], seed=i) for i in range(5)]
    path = tmp_path / "c.sqlite"

    first = OpenAIChatClient("m", [stub.url], cache=ResponseCache(path))
    out1 = first.chat_many(reqs)
    first.close()
    assert len(stub.requests) == 5

    # a new process would open the same file: nothing is asked twice
    second = OpenAIChatClient("m", [stub.url], cache=ResponseCache(path))
    out2 = second.chat_many(reqs + [ChatRequest.make([{"role": "user", "content": "q0"}], seed=99)])
    second.close()
    assert len(stub.requests) == 6  # only the new seed went out
    assert [o[0].text for o in out2[:5]] == [o[0].text for o in out1]
    assert all(o[0].cached for o in out2[:5]) and not out2[5][0].cached
    assert second.usage.as_dict() == {"requests": 1, "cached": 5, "prompt_tokens": 8, "completion_tokens": 3,
                                      "total_tokens": 11, "retries": 0}


def test_another_server_under_the_same_model_name_is_not_served_from_the_cache(tmp_path):
    """Answers cached from one server are not replayed for another that serves a
    different model under the same name: the endpoint is part of the key."""
    path = tmp_path / "c.sqlite"
    with StubLLMServer(default=lambda b: "Yes") as a, StubLLMServer(default=lambda b: "No") as b:
        one = OpenAIChatClient("m", [a.url], cache=ResponseCache(path))
        assert one.choose(MSGS, ["Yes", "No"]).option == "Yes"
        assert chat(one, MSGS)[0].text == "Yes"
        one.close()
        two = OpenAIChatClient("m", [b.url], cache=ResponseCache(path))
        assert two.choose(MSGS, ["Yes", "No"]).option == "No"
        assert chat(two, MSGS)[0].text == "No"
        two.close()
        # the same server written differently is the same endpoint
        three = OpenAIChatClient("m", [a.url.replace("http://", "HTTP://") + "/"], cache=ResponseCache(path))
        assert chat(three, MSGS)[0].text == "Yes"
        three.close()
    assert len(a.requests) == 2 and len(b.requests) == 2


def test_replicas_share_answers_whichever_one_answered(tmp_path):
    """With several --base-url replicas the key is the sorted set of URLs, not the
    replica that happened to answer: a re-run in another order is all cache hits."""
    path = tmp_path / "c.sqlite"
    with StubLLMServer(default=lambda b: "from a") as a, StubLLMServer(default=lambda b: "from b") as b:
        reqs = [ChatRequest.make([{"role": "user", "content": f"q{i}"}], seed=i) for i in range(6)]
        first = OpenAIChatClient("m", [a.url, b.url], cache=ResponseCache(path))
        out1 = [o[0].text for o in first.chat_many(reqs)]
        first.close()
        assert len(a.requests) + len(b.requests) == 6 and {"from a", "from b"} == set(out1)
        again = OpenAIChatClient("m", [b.url, a.url], cache=ResponseCache(path))
        out2 = [o[0].text for o in again.chat_many(reqs)]
        again.close()
    assert out2 == out1 and len(a.requests) + len(b.requests) == 6


def test_endpoint_key_normalises_urls():
    from datagen.llm.cache import endpoint_key

    assert endpoint_key(["HTTP://Gpu1:80/v1/", "http://gpu2:8000/v1"]) == endpoint_key(
        ["http://gpu2:8000/v1", "http://gpu1/v1"])
    assert endpoint_key(["https://api.example.com:443/v1"]) == endpoint_key(["https://api.example.com/v1"])
    assert endpoint_key(["http://gpu1:8000/v1"]) != endpoint_key(["http://gpu1:8001/v1"])
    assert endpoint_key(["http://gpu1:8000/v1"]) != endpoint_key(["http://gpu1:8000/v2"])


def test_no_cache_means_every_call_is_made(stub, tmp_path):
    cfg = LLMConfig(backend="openai", base_url=[stub.url], cache=False, cache_path=str(tmp_path / "c.sqlite"))
    client = make_client(cfg)
    chat(client, MSGS)
    chat(client, MSGS)
    client.close()
    assert len(stub.requests) == 2
    assert not (tmp_path / "c.sqlite").exists()


def test_api_key_is_sent_but_never_stored(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cache_dir = tmp_path / "cache"
    cfg = LLMConfig(backend="openai", base_url=[stub.url], model="m", cache_path=str(cache_dir / "r.sqlite"))
    client = make_client(cfg)
    chat(client, MSGS, seed=1)
    client.choose(MSGS, ["Yes", "No"])
    assert SECRET not in repr(client) and SECRET not in repr(cfg.public())
    client.close()
    auth = [v for h in stub.headers for k, v in h.items() if k.lower() == "authorization"]
    assert auth == [f"Bearer {SECRET}"] * 2  # the key was really used
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files
    for p in files:  # the database and any -wal/-shm beside it
        data = p.read_bytes()
        assert SECRET.encode() not in data and b"DO-NOT-STORE" not in data
    reopened = ResponseCache(cache_dir / "r.sqlite")
    assert len(reopened) == 2
    reopened.close()
