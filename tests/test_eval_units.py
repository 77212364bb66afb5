"""Pure parts of `datagen eval`: the overlap check, the metrics, judge verdict parsing and
the both-orders rule, the held-out split, the promote gate, and store tags."""

import pytest

from datagen.errors import ConfigError
from datagen.eval.config import EvalConfig
from datagen.eval.gate import decide
from datagen.eval.judge import adapter_view, combine, pairwise_prompt, parse_verdict, tally
from datagen.eval.metrics import exact_match, is_label_item, mean, rouge_l
from datagen.eval.overlap import find_overlaps
from datagen.eval.split import held_out
from datagen.records import Record
from datagen.store import DatasetStore

LONG = "Write a short story about a lighthouse keeper who finds a message in a bottle on the beach"


def test_overlap_exact_and_13gram():
    train = [Record(instruction=LONG), Record(instruction="Sort the list.", input="3 1 2")]
    evals = [
        Record(instruction="sort the list!", input="3, 1, 2"),  # same tokens: exact
        Record(instruction="Please " + LONG.lower() + " at night."),  # shares 13-grams
        Record(instruction="Write a short story about a lighthouse keeper."),  # 8 tokens: no 13-gram
        Record(instruction="Sort the list.", input="9 8 7"),
    ]
    assert find_overlaps(evals, train) == [(0, "exact_overlap"), (1, "ngram_overlap")]
    assert find_overlaps(evals, train, n=5) == [(0, "exact_overlap"), (1, "ngram_overlap"), (2, "ngram_overlap")]


def test_overlap_counts_chinese_characters():
    train = [Record(instruction="请写一篇关于春天的短文，描述花开和鸟鸣的景象")]
    assert find_overlaps([Record(instruction="写一篇关于春天的短文，描述花开和鸟鸣")], train) == [(0, "ngram_overlap")]
    assert find_overlaps([Record(instruction="写一首关于秋天的诗")], train) == []


def test_rouge_l_matches_rouge_score_and_counts_chinese():
    from rouge_score import rouge_scorer

    ref, pred = "The cat sat on the mat today.", "the cat is on a mat"
    want = rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"].fmeasure
    assert rouge_l(pred, ref) == pytest.approx(want)
    assert rouge_l("我爱北京", "我爱上海") == pytest.approx(0.5)  # rouge-score alone says 0
    assert rouge_l("", "anything") == 0.0


def test_exact_match_and_label_items():
    assert exact_match("Positive.", "positive") == 1.0
    assert exact_match("positive, I think", "positive") == 0.0
    assert exact_match("", "") == 0.0
    assert is_label_item(Record(instruction="x", output="A long free answer", meta={"task_type": "classification"}))
    assert not is_label_item(Record(instruction="x", output="Yes", meta={"task_type": "generation"}))
    assert is_label_item(Record(instruction="x", output="Neutral"))
    assert not is_label_item(Record(instruction="x", output="It depends on the weather and the season."))
    assert mean([1.0, None, 0.0]) == 0.5 and mean([None]) is None


@pytest.mark.parametrize("reply, verdict", [
    ("A", "A"), ("b", "B"), ("Tie.", "tie"), ("Reasons here.\nVerdict: B", "B"), ("**Verdict:** A", "A"),
    ("理由……\nVerdict: tie", "tie"), ("结论：平局", "tie"),
    ("I prefer A.", None), ("Verdict: both", None), ("", None), ("A is better\nB is worse", None),
])
def test_parse_verdict_never_guesses(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_both_orders_cancel_position_bias():
    # a judge that always picks A: adapter wins as A, loses as B -> a tie, not a win
    assert combine(adapter_view("A", "A"), adapter_view("A", "B")) == "tie"
    assert combine(adapter_view("A", "A"), adapter_view("B", "B")) == "win"
    assert combine(adapter_view("B", "A"), adapter_view("A", "B")) == "loss"
    assert combine(adapter_view("tie", "A"), adapter_view("B", "B")) == "tie"
    assert combine(adapter_view(None, "A"), adapter_view("B", "B")) == "malformed"
    t = tally(["win", "win", "tie", "loss", "malformed"])
    assert (t["win"], t["tie"], t["loss"], t["malformed"], t["judged"]) == (2, 1, 1, 1, 4)
    assert t["win_rate"] == 0.5 and tally(["malformed"])["win_rate"] is None


def test_pairwise_prompt_in_both_languages():
    rec = Record(instruction="Translate.", input="hello", output="bonjour")
    en = pairwise_prompt(rec, "salut", "bonjour", "en")
    assert "Answer A:\nsalut" in en and "Answer B:\nbonjour" in en and "Verdict: tie" in en
    assert "回答 A：\nsalut" in pairwise_prompt(rec, "salut", "bonjour", "zh")


def test_held_out_split_is_stable_and_order_free():
    ids = [f"seed_task_{i}" for i in range(400)]
    held = held_out(ids, 0.2)
    assert held == held_out(list(reversed(ids)), 0.2)
    assert 50 < len(held) < 110
    assert held <= held_out(ids, 0.5) and held_out(ids, 0) == set()


def summary(version, rouge, sha="s1", loss=1.0):
    return {"version": version, "eval_set": {"sha256": sha}, "adapter": {"rouge_l": rouge, "ref_loss": loss}}


def test_gate_decides_on_one_metric():
    assert decide(summary("v0001", 0.3), None)["better"] is True
    d = decide(summary("v0002", 0.4), summary("v0001", 0.3))
    assert d["better"] and d["previous"] == "v0001" and d["same_eval_set"]
    assert not decide(summary("v0002", 0.2), summary("v0001", 0.3))["better"]
    assert decide(summary("v0002", 0.2, loss=0.5), summary("v0001", 0.3), "ref_loss")["better"]  # lower wins
    assert decide(summary("v0002", 0.5, sha="s2"), summary("v0001", 0.3))["same_eval_set"] is False


def test_eval_config_checks():
    with pytest.raises(ConfigError, match="overlap"):
        EvalConfig(overlap="ignore")
    with pytest.raises(ConfigError, match="judge"):
        EvalConfig(judge_base_url="http://x/v1")
    with pytest.raises(ConfigError, match="promote_if"):
        EvalConfig(promote_if="always")
    assert EvalConfig(adapters="a").adapters == ["a"]


def test_tags_resolve_and_move(tmp_path):
    st = DatasetStore(tmp_path)
    for i in range(2):
        st.publish("d", [Record(instruction=f"q{i}", output="a")], [], {})
    with pytest.raises(ConfigError, match="no tag 'good'"):
        st.resolve("d@good")
    st.set_tag("d", "good", "v0001")
    assert st.resolve("d@good").version == "v0001" and st.resolve("d").version == "v0002"
    st.set_tag("d", "good", "v0002")
    assert st.tags("d") == {"good": "v0002"} and st.resolve("d@good").version == "v0002"
    assert st.resolve("d@v1").version == "v0001" and st.names() == ["d"]
    with pytest.raises(ConfigError, match="no version"):
        st.set_tag("d", "good", "v0009")


@pytest.mark.parametrize("args, message", [
    (["--adapter", "{tmp}/none", "--eval", "{tmp}/e.jsonl"], "no adapter in"),
    ([], "at least one --adapter"),
    (["--adapter", "{tmp}/ad", "--eval", "{tmp}/missing.jsonl"], "missing.jsonl: file not found"),
    (["--adapter", "{tmp}/ad"], "give --eval FILE"),
    (["--adapter", "{tmp}/ad", "--judge-model", "j"], "needs both judge_base_url and judge_model"),
])
def test_eval_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    from click.testing import CliRunner

    from datagen.cli import main

    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text("{}")
    (tmp_path / "e.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    res = CliRunner().invoke(main, ["eval", *[a.format(tmp=tmp_path) for a in args]])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
