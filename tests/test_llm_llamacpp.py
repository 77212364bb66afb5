"""The local backend on llama.cpp: the embedded SmolLM2 GGUF, real model, small generations."""

import pytest

from datagen.errors import ConfigError
from datagen.llm import ChatRequest, LLMConfig, make_client
from datagen.llm.base import CompletionRequest
from datagen.llm.llamacpp import available

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not available(), reason="llama-cpp-python is not installed (it builds from source)")]

MSG = [{"role": "user", "content": "Name a colour."}]
CONVERSATIONS = [
    MSG,
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好，请介绍一下长城。"},
     {"role": "assistant", "content": "长城很长。"}, {"role": "user", "content": "多长？"}],
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from datagen.llm.cache import ResponseCache
    from datagen.llm.llamacpp import LlamaCppChatClient

    c = LlamaCppChatClient(cache=ResponseCache(tmp_path_factory.mktemp("cache") / "c.sqlite"))
    yield c
    c.close()


@pytest.fixture(scope="module")
def hf():
    from datagen.llm.local import LocalChatClient

    c = LocalChatClient()
    yield c
    c.close()


def test_engine_choice():
    assert type(make_client(LLMConfig(cache=False))).__name__ == "LlamaCppChatClient"
    assert type(make_client(LLMConfig(cache=False, engine="transformers"))).__name__ == "LocalChatClient"
    assert LLMConfig(engine="auto").public()["engine"] == "llama.cpp"
    # a model folder is a transformers model; llama.cpp only runs GGUF files
    assert type(make_client(LLMConfig(cache=False, model="some/folder"))).__name__ == "LocalChatClient"
    with pytest.raises(ConfigError, match="GGUF"):
        make_client(LLMConfig(cache=False, model="some/folder", engine="llama.cpp"))
    with pytest.raises(ConfigError, match="not found"):
        make_client(LLMConfig(cache=False, model="missing.gguf"))


@pytest.mark.parametrize("conv", CONVERSATIONS)
def test_prompt_is_the_models_own_chat_template(client, hf, conv):
    assert client._prompt_text(conv, "Answer:") == hf._prompt_text(conv, "Answer:")


def test_option_scores_agree_with_the_transformers_engine(client, hf):
    """The same weights (Q4_1, dequantized for transformers): log-likelihoods agree closely."""
    for conv in CONVERSATIONS:
        ours = client.option_scores(conv, ["Yes", "No", " maybe so"], prefill="Answer: ")
        theirs = hf.option_scores(conv, ["Yes", "No", " maybe so"], prefill="Answer: ")
        assert all(abs(ours[o] - theirs[o]) < 0.5 for o in ours), (ours, theirs)
        assert ours[" maybe so"] < min(ours["Yes"], ours["No"])  # three tokens cost more than one


def test_prefix_reuse_gives_the_scores_of_a_fresh_model(client):
    from datagen.llm.llamacpp import LlamaCppChatClient

    shared = "Decide for each task whether it is a classification task.\n" * 5
    qs = [[{"role": "user", "content": shared + t}] for t in ("Sort these numbers.", "Is this email spam?")]
    reused = [client.option_scores(q, ["Yes", "No"]) for q in qs + qs[::-1]]
    for q, got in zip(qs + qs[::-1], reused):
        fresh = LlamaCppChatClient()
        try:
            assert fresh.option_scores(q, ["Yes", "No"]) == pytest.approx(got, abs=1e-3)
        finally:
            fresh.close()


def test_generation_length_stop_prefill_and_seeds(client):
    (cut,) = client.chat_many([ChatRequest.make(MSG, max_tokens=4, temperature=0.0)])
    assert cut[0].finish_reason == "length" and cut[0].completion_tokens == 4 and cut[0].prompt_tokens > 0
    (pre,) = client.chat_many([ChatRequest.make(MSG, max_tokens=8, temperature=0.0, prefill="My answer:")])
    assert pre[0].text.startswith("My answer:")
    story = [{"role": "user", "content": "Write three short lines about rain, one per line."}]
    (free,) = client.chat_many([ChatRequest.make(story, max_tokens=30, temperature=0.0)])
    word = free[0].text.split()[1]  # the second word of the unconstrained answer
    (stopped,) = client.chat_many([ChatRequest.make(story, max_tokens=30, temperature=0.0, stop=[word])])
    assert stopped[0].finish_reason == "stop" and word not in stopped[0].text
    assert free[0].text.startswith(stopped[0].text + word)
    req = ChatRequest.make(story, n=3, max_tokens=24, temperature=1.0, seed=11)
    (a,) = client.chat_many([req])
    assert len(a) == 3 and len({c.text for c in a}) > 1  # each sample has its own seed
    from datagen.llm.llamacpp import LlamaCppChatClient

    uncached = LlamaCppChatClient()  # the same seeds give the same samples again
    try:
        (b,) = uncached.chat_many([req])
    finally:
        uncached.close()
    assert [c.text for c in b] == [c.text for c in a] and not b[0].cached


def test_cache_hits_and_keys_name_the_engine(client, hf):
    from datagen.llm.cache import request_key

    req = ChatRequest.make(MSG, max_tokens=8, temperature=0.0, seed=1)
    (first,) = client.chat_many([req])
    n = client.usage.requests
    (second,) = client.chat_many([req])
    assert second[0].cached and second[0].text == first[0].text and client.usage.requests == n
    assert client._key(req) != request_key(hf.backend, hf.model, req)


def test_raw_completion(client):
    prompt = "<|im_start|>user\n"  # Magpie's pre-query template for ChatML
    (out,) = client.complete_many([CompletionRequest(prompt=prompt, max_tokens=12, temperature=0.0)])
    assert out[0].text.strip() and out[0].completion_tokens <= 12
