"""Reasoning traces kept apart from the answer (llm/reasoning.py): the splitter on strings,
and the openai client against the stub server on 127.0.0.1."""

import pytest

from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest
from datagen.llm.reasoning import inline, split_reasoning
from stub_server import Reply, reasoning_body

USER = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.mark.parametrize("content, field, want", [
    ("<think>add them</think>\n\n4", None, ("4", "add them", True)),
    ("  <THINK>\nadd them\n</think>4", None, ("4", "add them", True)),
    ("<think>add them, then", None, ("", "add them, then", False)),
    ("add them</think>\n\n4", None, ("4", "add them", True)),  # DeepSeek-R1: the template opened it
    ("4", "add them", ("4", "add them", True)),
    ("4", None, ("4", "", True)),
    ("Use <think> tags like this: <think>x</think>", None, ("Use <think> tags like this: <think>x</think>", "", True)),
])
def test_split_reasoning(content, field, want):
    assert split_reasoning(content, field) == want


def test_inline_wraps_the_trace_in_think_tags():
    assert inline("4", "add them") == "<think>\nadd them\n</think>\n\n4"
    assert inline("4", "") == "4"
    assert split_reasoning(inline("4", "add them")) == ("4", "add them", True)


def client(stub):
    return make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0, cache=False))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_client_reads_the_reasoning_field_and_counts_its_tokens(stub, field):
    stub.enqueue(Reply(body=reasoning_body("4", "two plus two is four", field=field, reasoning_tokens=5)))
    c = client(stub)
    try:
        [[out]] = c.chat_many([ChatRequest.make(USER)], desc="answers")
        assert (out.text, out.reasoning, out.reasoning_closed) == ("4", "two plus two is four", True)
        assert out.reasoning_tokens == 5
        ledger = c.usage.ledger.as_dict()
        assert ledger["total"]["reasoning_tokens"] == 5
        assert ledger["stages"][0]["reasoning_tokens"] == 5
        assert ledger["total"]["completion_tokens"] >= 5  # reasoning is part of the completion
    finally:
        c.close()


def test_client_splits_think_in_content_and_marks_an_unclosed_trace(stub):
    stub.enqueue(Reply(body=reasoning_body("<think>plan</think>\n\nfour", field="")),
                 Reply(body=reasoning_body("<think>still thinking about", field="", finish_reason="length")),
                 Reply(body=reasoning_body("", "a separate trace cut off", finish_reason="length")))
    c = client(stub)
    try:
        outs = [c.chat_many([ChatRequest.make(USER, seed=i)])[0][0] for i in range(3)]
    finally:
        c.close()
    assert (outs[0].text, outs[0].reasoning, outs[0].reasoning_closed) == ("four", "plan", True)
    assert (outs[1].text, outs[1].reasoning, outs[1].reasoning_closed) == ("", "still thinking about", False)
    assert (outs[2].text, outs[2].reasoning_closed) == ("", False)


def test_choose_matches_the_answer_not_the_thinking(stub):
    stub.enqueue(Reply(body=reasoning_body("<think>It is not No, because...</think>Yes", field="")))
    c = client(stub)
    try:
        assert c.choose(USER, ["Yes", "No"]).option == "Yes"
    finally:
        c.close()


def test_cached_completion_keeps_its_trace(stub, tmp_path):
    stub.enqueue(Reply(body=reasoning_body("4", "because")))
    c = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0,
                              cache_path=str(tmp_path / "c.sqlite")))
    try:
        first = c.chat_many([ChatRequest.make(USER)])[0][0]
        again = c.chat_many([ChatRequest.make(USER)])[0][0]
    finally:
        c.close()
    assert again.cached and (again.text, again.reasoning) == (first.text, first.reasoning) == ("4", "because")
    assert len(stub.requests) == 1


def test_local_completions_are_split_in_place_and_their_trace_counted():
    from datagen.llm.base import Completion
    from datagen.llm.reasoning import split_completions, trace_meta

    comps = [Completion("<think>one two three</think>\n\nAnswer."), Completion("Plain."),
             Completion("<think>cut off while")]
    split_completions(comps, count=lambda t: len(t.split()))
    assert [(c.text, c.reasoning, c.reasoning_closed, c.reasoning_tokens) for c in comps] == [
        ("Answer.", "one two three", True, 3), ("Plain.", "", True, 0), ("", "cut off while", False, 3)]
    assert trace_meta(comps[0]) == {"reasoning": "one two three"} and trace_meta(comps[1]) == {}
    assert trace_meta(comps[2]) == {"reasoning": "cut off while", "reasoning_truncated": True}
