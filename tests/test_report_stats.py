"""Report numbers on tiny fixtures whose answers are worked out by hand."""

from __future__ import annotations

import random

import pytest

from datagen.records import Record
from datagen.report import diversity, similarity, stats
from datagen.report.source import split_seeds


def fixture_records() -> list[Record]:
    seed = Record(instruction="Write a poem about cats.", meta={"source": "seed", "task_type": "generation"})
    return [
        seed,
        Record(instruction="Classify the sentiment of the review.", input="I love it", output="positive",
               meta={"task_type": "classification"}),
        Record(instruction="Classify the sentiment of the review.", input="I hate it", output="negative",
               meta={"task_type": "classification"}),
        Record(instruction="Write a poem about dogs.", output="Dogs run fast and bark",
               meta={"task_type": "generation"}),
        Record(instruction="Tell me a joke", output="No.",
               messages=[{"role": "user", "content": "Tell me a joke"}, {"role": "assistant", "content": "Why?"},
                         {"role": "user", "content": "Another"}, {"role": "assistant", "content": "No."}]),
        Record(instruction="写一首关于春天的诗", output="春风吹"),
    ]


def test_counts_and_shares():
    c = stats.counts(fixture_records())
    assert c["records"] == 6
    assert c["distinct_instructions"] == 5
    assert c["typed_instructions"] == 3  # seed, classify, dogs; joke and the Chinese one untyped
    assert c["classification_instructions"] == 1
    assert c["classification_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert c["empty_input"] == 4 and c["empty_input_share"] == pytest.approx(4 / 6, abs=1e-4)
    assert c["languages"] == {"en": 5, "zh": 1}
    assert c["multi_turn"] == 1 and c["multi_turn_share"] == pytest.approx(1 / 6, abs=1e-4)
    assert c["sources"] == {"generated": 5, "seed": 1}


def test_classification_share_is_none_without_task_types():
    c = stats.counts([Record(instruction="a"), Record(instruction="b")])
    assert c["classification_share"] is None and c["typed_instructions"] == 0


def test_lengths_words_and_chinese_characters():
    ln = stats.lengths(fixture_records())
    # per distinct instruction: 5, 6, 5, 4 words and 9 Chinese characters
    h = ln["instruction"]
    assert h["edges"] == list(range(11))
    assert h["counts"] == [0, 0, 0, 0, 1, 2, 1, 0, 0, 1]
    assert (h["n"], h["mean"], h["median"], h["max"], h["overflow"]) == (5, 5.8, 5, 9, 0)
    assert ln["avg_instruction_len"] == 5.8
    assert ln["input"]["n"] == 2 and ln["avg_nonempty_input_len"] == 3.0
    # outputs: 0 (seed), 1, 1, 5, 1 ("No."), 3 characters
    assert ln["avg_output_len"] == round(11 / 6, 2)


def test_histogram_clips_the_long_tail_into_overflow():
    h = stats.histogram(list(range(1, 101)))
    assert h["edges"][:3] == [0, 4, 8] and h["edges"][-1] == 100 and len(h["counts"]) == 25
    assert h["counts"][0] == 3 and set(h["counts"][1:]) == {4}
    assert h["overflow"] == 1 and sum(h["counts"]) + h["overflow"] == 100
    assert h["median"] == 50.5 and h["max"] == 100
    assert stats.histogram([])["n"] == 0


def test_unit_histogram_bins():
    h = stats.unit_histogram([0.0, 0.049, 0.05, 0.7, 1.0])
    assert len(h["counts"]) == 20 and h["edges"][1] == 0.05 and h["edges"][-1] == 1.0
    assert h["counts"][0] == 2 and h["counts"][1] == 1 and h["counts"][14] == 1 and h["counts"][19] == 1


def test_distinct_n():
    assert diversity.distinct_n(["a b a", "a b"], 1) == 0.4  # {a, b} of 5 tokens
    assert diversity.distinct_n(["a b a", "a b"], 2) == pytest.approx(2 / 3, abs=1e-4)  # ab, ba, ab
    assert diversity.distinct_n(["春天春"], 1) == pytest.approx(2 / 3, abs=1e-4)  # one token per character
    assert diversity.distinct_n(["x"], 2) is None


@pytest.mark.parametrize("text, expected", [
    ("Write a short story about a dog.", ("write", "story")),
    ("Given a sentence, classify its sentiment.", ("classify", "sentiment")),
    ("Please generate a list of 5 names.", ("generate", "list")),
    ("Tell me about cats.", ("tell", None)),
    ("What is the capital of France?", (None, None)),
])
def test_english_verb_object(text, expected):
    assert diversity.english_verb_object(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("请写一首关于春天的诗", ("写", "诗")),
    ("判断下面这句话的情感是积极还是消极", ("判断", "情感")),
    ("给出三个提高睡眠质量的建议", ("给出", "建议")),
    ("将以下句子翻译成英文", ("翻译成", "句子")),
    ("什么是机器学习？", (None, None)),
])
def test_chinese_verb_object(text, expected):
    assert diversity.chinese_verb_object(text) == expected


def test_verb_stats_counts_pairs_and_leading_words():
    v = diversity.verb_stats(["Write a poem.", "Write a story.", "Write a poem now.", "What is AI?"])
    assert v["with_verb"] == 3 and v["distinct_verbs"] == 1
    assert v["verbs"] == [("write", 3)]
    assert v["verb_objects"] == [("write poem", 2), ("write story", 1)]
    assert v["leading_words"] == [("write", 3), ("what", 1)]
    assert v["objects_of_top_verbs"] == [["write", 3, [("poem", 2), ("story", 1)]]]


def test_nearest_and_seed_rouge_known_values():
    r = similarity.nearest_rouge(["a b c", "a b d", "x y z"])
    # a b c ~ a b d: LCS 2 of 3 and 3 -> 2/3; x y z overlaps nothing
    assert r["counts"][13] == 2 and r["counts"][0] == 1
    assert r["mean"] == pytest.approx(4 / 9, abs=1e-4) and r["over_0_7"] == 0
    s = similarity.seed_rouge(["a b c d", "q r"], ["a b c d", "x y"])
    assert s["counts"][19] == 1 and s["counts"][0] == 1 and s["over_0_7"] == 1
    assert similarity.seed_rouge(["a"], []) is None and similarity.nearest_rouge(["a"]) is None


def test_nearest_rouge_matches_rouge_score_brute_force():
    from rouge_score import rouge_scorer

    rng = random.Random(3)
    words = "write a poem story about cats dogs the list explain why sky blue".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))) for _ in range(25)]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = [max(scorer.score(t, o)["rougeL"].fmeasure for j, o in enumerate(texts) if j != i)
                for i, t in enumerate(texts)]
    got = similarity.nearest_rouge(texts, limit=None)
    assert got["counts"] == stats.unit_histogram(expected)["counts"]
    assert got["mean"] == pytest.approx(sum(expected) / len(expected), abs=1e-4)


def test_rouge_sample_is_capped_and_reproducible():
    texts = [f"task number {i} about topic {i % 7}" for i in range(50)]
    a = similarity.nearest_rouge(texts, limit=10)
    assert a["compared"] == 10 and a["of"] == 50
    assert a == similarity.nearest_rouge(texts, limit=10)


def test_split_seeds_from_meta_and_from_file(tmp_path):
    recs = fixture_records()
    seeds, gen = split_seeds(recs)
    assert seeds == ["Write a poem about cats."] and len(gen) == 5
    f = tmp_path / "seeds.txt"
    f.write_text("Tell me a joke\n", encoding="utf-8")
    seeds, gen = split_seeds(recs, f)
    assert seeds == ["Tell me a joke"] and len(gen) == 5 and all(r.instruction != "Tell me a joke" for r in gen)


def test_runs_funnel_usage_and_stages():
    lineage = [
        {"version": "v0002", "parent": "v0001", "funnel": {"candidates": 10, "kept": 7, "dropped": {"rouge": 3}},
         "usage": {"requests": 4, "prompt_tokens": 100, "completion_tokens": 40}},
        {"version": "v0001", "parent": None, "funnel": {"candidates": 5, "kept": 5, "dropped": {}},
         "usage": {"requests": 2, "prompt_tokens": 50, "completion_tokens": 10}},
    ]
    rejects = [{"reason": "rouge", "stage": "instruction"}, {"reason": "rouge", "stage": "instruction"},
               {"reason": "empty_output", "stage": "instance"}]
    r = stats.runs(lineage, rejects)
    assert [x["version"] for x in r["runs"]] == ["v0002", "v0001"]
    assert r["funnel"]["kept"] == 7
    assert r["usage_total"] == {"requests": 6, "prompt_tokens": 150, "completion_tokens": 50}
    assert r["rejects_by_stage"] == {"instruction": {"rouge": 2}, "instance": {"empty_output": 1}}
    # a plain file has no manifest: the funnel comes from its rejects
    assert stats.runs([], rejects)["funnel"] == {"dropped": {"rouge": 2, "empty_output": 1}}


def test_paper_figures():
    assert stats.PAPER["instructions"] == 52445 and stats.PAPER["instances"] == 82439
    assert stats.PAPER["seed_tasks"] == 175
    assert 0.21 < stats.PAPER["classification_share"] < 0.23
