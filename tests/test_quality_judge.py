"""The LLM judge: strict parsing on strings, and the scorer against the stub server."""

from __future__ import annotations

import json

import pytest

from datagen.llm import LLMConfig, make_client
from datagen.quality import ScoreConfig, apply_scores, make_scorer
from datagen.quality.judge import JudgeScorer, judge_prompt, parse_judgement, repair_prompt
from datagen.records import Record


def rec(i=0, lang="en"):
    if lang == "zh":
        return Record(instruction=f"解释第{i}个概念。", output=f"这是第{i}个概念的解释。")
    return Record(instruction=f"Explain concept {i}.", input="", output=f"Concept {i} means this.")


# ---- parsing (pure) -----------------------------------------------------------------

@pytest.mark.parametrize("reply,value,reason", [
    ('{"score": 4, "reason": "Correct but terse."}', 4, "Correct but terse."),
    ('Sure!\n```json\n{"score": 5, "reason": "Complete."}\n```', 5, "Complete."),
    ('{"score": "3", "reason": "Partly right"}', 3, "Partly right"),
    ('{"score": 4.5}', 4.5, None),
    ("Score: 2\nReason: misses the point", 2, "misses the point"),
    ("**Score:** 5", 5, None),
    ("评分：3\n理由：不完整", 3, "不完整"),
])
def test_parse_good_replies(reply, value, reason):
    got = parse_judgement(reply)
    assert got["value"] == value
    assert got.get("reason") == reason


@pytest.mark.parametrize("reply", [
    "This response is pretty good.",  # no score at all
    "I would give it a 4 or maybe 5.",  # a number, but not in the format
    '{"score": 7, "reason": "x"}',  # out of the 1-5 scale
    '{"score": 0}',
    '{"score": true}',
    "Score: 4\nScore: 2",  # two different scores: ambiguous
    '{"rating": "good"}',
    "",
])
def test_parse_rejects_malformed_replies(reply):
    assert parse_judgement(reply) is None


def test_parse_multi_aspect():
    got = parse_judgement('{"instruction": 5, "input": 4, "output": 2, "reason": "wrong answer"}', aspects=True)
    assert got == {"value": 2, "aspects": {"instruction": 5, "input": 4, "output": 2}, "reason": "wrong answer"}
    lines = parse_judgement("Instruction: 4\nInput: 5\nOutput: 3\nReason: ok", aspects=True)
    assert lines["value"] == 3 and lines["aspects"] == {"instruction": 4, "input": 5, "output": 3}
    # one aspect missing is not a judgement
    assert parse_judgement('{"instruction": 5, "output": 2}', aspects=True) is None
    # a single-score reply does not satisfy the aspect rubric
    assert parse_judgement('{"score": 4}', aspects=True) is None


def test_rubrics_in_both_languages():
    r = Record(instruction="Name a fruit.", output="Apple.")
    en = judge_prompt(r, "en")
    assert "Name a fruit." in en and "Apple." in en and "(none)" in en and "1 to 5" in en
    zh = judge_prompt(Record(instruction="说出一种水果。", output="苹果。"), "zh")
    assert "说出一种水果。" in zh and "（无）" in zh and "1 到 5" in zh
    assert '"instruction": <1-5>' in judge_prompt(r, "en", aspects=True)
    assert "instruction" in judge_prompt(r, "zh", aspects=True) and "指令" in judge_prompt(r, "zh", aspects=True)
    assert '{"score": <1-5>' in repair_prompt("en") and "JSON" in repair_prompt("zh")


# ---- against the stub server ---------------------------------------------------------

def client(stub, tmp_path, cache=True):
    return make_client(LLMConfig(backend="openai", base_url=[stub.url], model="judge-model", max_retries=0,
                                 concurrency=4, cache=cache, cache_path=str(tmp_path / "judge.sqlite")))


def by_record(replies):
    """A responder answering by the record number in the prompt; repairs get `repair`."""
    def answer(body):
        msgs = body["messages"]
        first = msgs[0]["content"]
        i = next(k for k in range(len(replies)) if f"concept {k}." in first or f"第{k}个" in first)
        first_reply, repair = replies[i]
        return repair if len(msgs) > 1 else first_reply
    return answer


def test_judge_good_malformed_repaired_failed(stub, tmp_path):
    stub.default = by_record([
        ('{"score": 5, "reason": "Fully correct."}', None),
        ("It is a decent answer.", '{"score": 3, "reason": "Incomplete."}'),  # repaired
        ("Great job!", "Still no score, sorry."),  # fails twice
        ("Score: 2\nReason: wrong", None),
    ])
    c = client(stub, tmp_path)
    records = [rec(i) for i in range(4)]
    counts = apply_scores(records, JudgeScorer(c, lang="en"))
    c.close()
    s = [r.meta["scores"]["judge"] for r in records]
    assert s[0]["value"] == 5 and s[0]["reason"] == "Fully correct." and s[0]["model"] == "judge-model"
    assert s[1]["value"] == 3 and s[1]["repaired"] is True
    assert s[2]["value"] is None and s[2]["error"] == "judge_failed" and s[2]["raw"] == "Still no score, sorry."
    assert s[3]["value"] == 2 and s[3]["reason"] == "wrong"
    assert counts == {"scored": 3, "failed": 1, "errors": {"judge_failed": 1}}
    # 4 first asks + exactly one repair each for the two unreadable replies
    assert len(stub.requests) == 6
    repairs = [b for b in stub.requests if len(b["messages"]) > 1]
    assert len(repairs) == 2
    for b in repairs:
        assert b["messages"][1]["role"] == "assistant"
        assert "could not be read" in b["messages"][2]["content"]
    assert all(b["temperature"] == 0.0 for b in stub.requests)


def test_judge_multi_aspect_and_chinese_rubric(stub, tmp_path):
    stub.default = lambda body: '{"instruction": 5, "input": 5, "output": 4, "reason": "回答基本正确"}'
    c = client(stub, tmp_path)
    records = [rec(i, "zh") for i in range(3)]
    scorer = make_scorer(ScoreConfig(scorer="judge", aspects=True), records, c)
    assert scorer.lang == "zh"  # auto-detected from the instructions
    apply_scores(records, scorer)
    c.close()
    assert all(r.meta["scores"]["judge"]["value"] == 4 for r in records)
    assert records[0].meta["scores"]["judge"]["aspects"] == {"instruction": 5, "input": 5, "output": 4}
    assert "请分别给以下三个方面打分" in stub.requests[0]["messages"][0]["content"]


def test_judge_calls_count_in_usage_and_cache(stub, tmp_path):
    stub.default = lambda body: '{"score": 4, "reason": "fine"}'
    c = client(stub, tmp_path)
    records = [rec(i) for i in range(5)]
    apply_scores(records, JudgeScorer(c))
    assert c.usage.requests == 5 and c.usage.cached == 0 and c.usage.prompt_tokens == 50
    again = [rec(i) for i in range(5)]
    apply_scores(again, JudgeScorer(c))  # the same questions: answered by the cache
    assert c.usage.requests == 5 and c.usage.cached == 5
    assert len(stub.requests) == 5
    assert [r.meta["scores"]["judge"]["value"] for r in again] == [4] * 5
    c.close()


def test_failed_judgement_is_not_cached_as_a_score(stub, tmp_path):
    # the repair turn is its own request: a rerun pays nothing and still says judge_failed
    stub.default = lambda body: "no idea"
    c = client(stub, tmp_path)
    r1 = [rec(0)]
    apply_scores(r1, JudgeScorer(c))
    r2 = [rec(0)]
    apply_scores(r2, JudgeScorer(c))
    c.close()
    assert r1[0].meta["scores"]["judge"]["error"] == r2[0].meta["scores"]["judge"]["error"] == "judge_failed"
    assert len(stub.requests) == 2
    json.dumps(r2[0].to_dict())  # scores are plain JSON
