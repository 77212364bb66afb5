"""The refusal rule and the decontamination filter, alone and in the chains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datagen.errors import DataError
from datagen.filters import FilterConfig, build_chain, build_instance_chain, funnel
from datagen.filters.decontam import Decontaminate, read_benchmark, tokens
from datagen.filters.refusal import Refusal, refusal_match
from datagen.records import Record


@pytest.mark.parametrize("text", [
    "As an AI language model, I cannot browse the internet.",
    "I'm sorry, but I can't help with that.",
    "I’m sorry for any confusion, but as a chatbot designed to assist with text, I cannot see images.",
    "I am sorry, but as an AI, I do not have personal opinions.",
    "Sorry, but I cannot provide real-time data.",
    "I cannot fulfill this request.",
    "Well, as an AI assistant I have no feelings.",
    "作为一个人工智能语言模型，我无法访问互联网。",
    "抱歉，我无法回答这个问题。",
    "对不起，作为AI助手，我不能提供医疗建议。",
    "很抱歉给您造成困惑，但我只能处理文本。",
    "我是一个人工智能，没有个人观点。",
])
def test_refusals_are_caught(text):
    assert refusal_match(text)
    assert Refusal().check(Record(instruction="Do it.", output=text)) == "refusal"


@pytest.mark.parametrize("text", [
    "The capital of France is Paris.",
    "I can't help but notice the pattern: 2, 4, 8, 16.",
    "As an AI researcher, you should first define the task.",
    "Sorry is a hard word to say; the song was a hit in 1976.",
    "巴黎是法国的首都。",
    "人工智能语言模型可以用来生成文本，例如 ChatGPT。",
    "Here is the answer. As an AI language model example, GPT-2 was trained on WebText.",  # not at the start
])
def test_answers_are_not_refusals(text):
    assert refusal_match(text) is None


def test_refusal_checks_every_assistant_turn():
    conv = Record(instruction="Hi", output="Paris is the capital.", messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Show me a picture"},
        {"role": "assistant", "content": "I'm sorry, but I can't show pictures."},
        {"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris is the capital."},
    ])
    f = Refusal()
    assert f.check(conv) == "refusal" and f.last_detail["turn"] == 1


def test_refusal_is_on_in_the_instance_chain():
    chain = build_instance_chain(FilterConfig(), "en")
    vs = chain.check_many([Record(instruction="Name a color.", output="Blue."),
                           Record(instruction="Draw a cat.", output="As an AI language model, I cannot draw.")])
    assert funnel(vs) == {"seen": 2, "kept": 1, "dropped": {"refusal": 1}}
    assert vs[1].filter == "refusal" and "as an ai language model" in vs[1].detail["refusal"].lower()


# ---- decontamination ------------------------------------------------------------------

BENCH_EN = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")
BENCH_ZH = "小明有五个苹果，他给了小红两个，又从妈妈那里得到了三个，请问小明现在一共有几个苹果？"


@pytest.fixture
def bench(tmp_path):
    p = tmp_path / "gsm_mini.jsonl"
    rows = [{"instruction": BENCH_EN, "output": "72"}, {"question": BENCH_ZH},
            {"text": "Translate the following sentence into French please"}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    txt = tmp_path / "mmlu_mini.txt"
    txt.write_text("Which of the following is the body cavity that contains the pituitary gland in humans today\n\n",
                   encoding="utf-8")
    return p, txt


def test_planted_items_are_dropped_with_the_benchmark_named(bench):
    jsonl, txt = bench
    f = Decontaminate([jsonl, txt])
    records = [
        Record(instruction=BENCH_EN),  # exact
        # reworded at both ends; a 13-word run of the middle survives
        Record(instruction="Quick puzzle: Natalia sold clips to 48 of her friends in April, and then she sold half "
                           "as many clips in May. What is the total?"),
        Record(instruction="请回答：小明有五个苹果，他给了小红两个，又从妈妈那里得到了三个，现在有多少？"),  # zh, 13+ chars
        Record(instruction="Answer this.", input="WHICH of the following is the body-cavity that contains the "
                                                 "pituitary gland in humans today?"),  # case/punct normalised
        Record(instruction="Natalia sold some clips in April to her friends; how many in total?"),  # no 13-gram
        Record(instruction="小明有五个苹果。"),  # short Chinese overlap: kept
        Record(instruction="Write a haiku about autumn leaves falling on a quiet pond."),
    ]
    reasons = f.check_many(records)
    assert reasons == ["contaminated"] * 4 + [None] * 3
    d = f.last_details
    assert d[0]["benchmark"] == str(jsonl) and d[0]["benchmark_line"] == 1 and d[0]["benchmark_item"].startswith("Natalia")
    assert d[2]["benchmark_line"] == 2 and "小明有五个苹果" in d[2]["matched"]
    assert d[2]["benchmark"] == str(jsonl) and d[2]["benchmark_item"] == BENCH_ZH
    assert d[3]["benchmark"] == str(txt) and d[3]["benchmark_line"] == 1
    assert "pituitary gland" in d[3]["matched"]


def test_short_items_match_whole(tmp_path):
    p = tmp_path / "short.txt"
    p.write_text("translate the following sentence into french please\nyes\n", encoding="utf-8")
    f = Decontaminate([p])
    assert f.check_many([Record(instruction="Translate the following sentence into French, please: hi"),
                         Record(instruction="Yes or no: is water wet?")]) == ["contaminated", None]


def test_decontaminate_in_the_instruction_chain(bench):
    jsonl, _ = bench
    chain = build_chain(FilterConfig(rouge=None, embed=None, decontaminate=[str(jsonl)]), "en")
    vs = chain.check_many([Record(instruction=BENCH_EN), Record(instruction="Name three primary colors please.")])
    assert [v.reason for v in vs] == ["contaminated", None]
    assert vs[0].filter == "decontaminate" and vs[0].detail["benchmark"] == str(jsonl)


def test_embedding_similarity_catches_paraphrases(bench):
    jsonl, _ = bench
    # a fake encoder: one direction per topic word, so the paraphrase is near the item
    def enc(texts):
        out = np.array([[("clips" in t.lower()) * 1.0, ("apple" in t.lower() or "苹果" in t) * 1.0,
                         ("poem" in t.lower()) * 1.0, 0.05]
                        for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
    f = Decontaminate([jsonl], embed=0.9, encoder=enc)
    reasons = f.check_many([Record(instruction="A girl sells clips to friends over two months; total?"),
                            Record(instruction="Write a poem.")])
    assert reasons == ["contaminated", None]
    assert f.last_details[0]["benchmark_line"] == 1 and f.last_details[0]["cosine"] > 0.9


def test_bad_benchmark_files(tmp_path):
    with pytest.raises(DataError, match="benchmark file not found"):
        read_benchmark(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok"}\n{"label": 3}\n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_benchmark(bad)
    assert e.value.line == 2


def test_tokens_normalise():
    assert tokens("Ｈｅｌｌｏ, World!") == ["hello", "world"]
    assert tokens("小明有5个") == ["小", "明", "有", "5", "个"]
