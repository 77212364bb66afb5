"""Deciding a pair from pairwise judgements (datagen/prefs/pairs.py), on plain values."""

from datagen.prefs.pairs import Comparison, Response, decide, pairs_to_judge


def R(*texts):
    return [Response(f"m{k}", t) for k, t in enumerate(texts)]


def test_consistent_winner_is_chosen_and_loser_rejected():
    # 0 beats 1 and 2; 1 beats 2: scores 2, 0, -2
    comps = [Comparison(0, 1, ("A", "B")), Comparison(0, 2, ("A", "B")), Comparison(1, 2, ("A", "B"))]
    d = decide(R("x", "y", "z"), comps, 0.5)
    assert (d.chosen, d.rejected, d.reason, d.scores, d.margin) == (0, 2, None, [2, 0, -2], 1.0)


def test_position_bias_is_inconsistent_and_two_ties_a_tie():
    assert decide(R("x", "y"), [Comparison(0, 1, ("A", "A"))], 0.0).reason == "inconsistent"
    assert decide(R("x", "y"), [Comparison(0, 1, ("tie", "tie"))], 0.0).reason == "tie"
    assert decide(R("x", "y"), [Comparison(0, 1, (None, "A"))], 0.0).reason == "judge_malformed"


def test_margin_threshold_and_cycles():
    # 0 > 1, 1 > 2, 2 > 0: every score 0, the direct comparison of chosen vs rejected goes the other way
    cyc = [Comparison(0, 1, ("A", "B")), Comparison(1, 2, ("A", "B")), Comparison(0, 2, ("B", "A"))]
    assert decide(R("x", "y", "z"), cyc, 0.0).reason == "inconsistent"
    # 0 > 2 only; the rest ties: margin (1 - -1) / 4 = 0.5
    comps = [Comparison(0, 1, ("tie", "tie")), Comparison(1, 2, ("tie", "tie")), Comparison(0, 2, ("A", "B"))]
    assert decide(R("x", "y", "z"), comps, 0.5).reason is None
    assert decide(R("x", "y", "z"), comps, 0.6).reason == "low_margin"


def test_empty_or_cut_off_responses_do_not_count():
    resp = [Response("a", "fine"), Response("b", ""), Response("c", "cut", "length")]
    assert decide(resp, [], 0.0).reason == "too_few_responses"
    assert pairs_to_judge(3) == [(0, 1), (0, 2), (1, 2)]
