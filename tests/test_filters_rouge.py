"""ROUGE-L: exactly rouge-score's rougeL on ASCII, CJK-aware, and the index decides as
the brute-force loop does."""

import gzip
import json
import random

import pytest
from rouge_score import rouge_scorer

from datagen.filters.rouge import RougeDedup, RougeIndex, fmeasure, rouge_l, tokenize
from datagen.records import Record

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
WORDS = ("the a of to write give list three tips for healthy explain why how what is "
         "sentence story poem email 42 x2 café naïve Don't re-write U.S. e.g.").split()


def rs(a: str, b: str) -> float:
    """rouge-score as Self-Instruct calls it: target = kept, prediction = candidate."""
    return SCORER.score(a, b)["rougeL"].fmeasure


def _perturb(rng: random.Random, words: list[str]) -> list[str]:
    out = list(words)
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        if op < 0.3 and out:
            del out[rng.randrange(len(out))]
        elif op < 0.6:
            out.insert(rng.randrange(len(out) + 1), rng.choice(WORDS))
        elif out:
            i, j = rng.randrange(len(out)), rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
    return out


def _random_pairs(n: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(n):
        a = [rng.choice(WORDS) for _ in range(rng.randint(0, 14))]
        b = _perturb(rng, a) if rng.random() < 0.7 else [rng.choice(WORDS) for _ in range(rng.randint(0, 14))]
        punct = lambda ws: " ".join(w + rng.choice(["", "", ",", "!", " -"]) for w in ws)  # noqa: E731
        yield punct(a), punct(b)


def test_tokenize_matches_rouge_score_on_ascii():
    from rouge_score import tokenize as rs_tokenize

    for a, b in _random_pairs(500, seed=1):
        assert tokenize(a) == rs_tokenize.tokenize(a, None)
    for text in ("Café naïve — “quoted” Ünïcödé İstanbul \u212a-type", "x\u00a0y\u2003z", "ÀÉÎõü"):
        assert tokenize(text) == rs_tokenize.tokenize(text, None)
    assert tokenize("Don't STOP, e.g. U.S.-made 3.5x") == ["don", "t", "stop", "e", "g", "u", "s", "made", "3", "5x"]


def test_rouge_l_equals_rouge_score_on_thousands_of_pairs():
    pairs = list(_random_pairs(3000))
    for a, b in pairs:
        assert rouge_l(a, b) == rs(a, b), (a, b)  # bit-identical, not approximately
        assert rouge_l(a, b) == rouge_l(b, a)


def test_real_seed_pairs_equal(corpora):
    rows = [json.loads(line) for line in open(corpora / "self_instruct_seed_tasks.jsonl")]
    texts = [r["instruction"] for r in rows][:60]
    for a in texts:
        for b in texts[:30]:
            assert rouge_l(a, b) == rs(a, b)


def test_fmeasure_uses_rouge_score_arithmetic_at_the_boundary():
    # lengths 7 and 13 with LCS 7: exactly 0.7 in exact arithmetic, but rouge-score
    # computes 0.7000000000000001 and so Self-Instruct drops it (> 0.7)
    assert 2 * 7 / 20 == 0.7
    assert fmeasure(7, 7, 13) == rs("a b c d e f g", "a b c d e f g h i j k l m") > 0.7
    idx = RougeIndex(0.7)
    idx.add("a b c d e f g h i j k l m")
    assert idx.match("a b c d e f g") is not None


def test_score_equal_to_threshold_is_kept():
    # 2 tokens vs 2 tokens with LCS 1 scores exactly 0.5: not greater than 0.5
    assert rouge_l("red apple", "red pear") == 0.5
    idx = RougeIndex(0.5)
    idx.add("red apple")
    assert idx.match("red pear") is None
    assert RougeIndex(0.49).dedup(["red apple", "red pear"])[1] is not None


def test_need_table_matches_scalar_need():
    for t in (0.3, 0.5, 0.7, 0.71, 0.9, 0.99):
        idx = RougeIndex(t)
        for la in list(range(1, 60)) + [137, 500, 1999]:
            lo, hi, k_min = idx.bounds.window(la)
            if hi < lo:
                continue
            tab = idx.bounds.need_table(la, lo, hi)
            for lb in range(lo, hi + 1):
                k = idx.bounds.need(la, lb)
                assert tab[lb - lo] == k
                assert k and fmeasure(k, la, lb) > t >= fmeasure(k - 1, la, lb)
            # nothing outside the window can pass even with a full LCS
            assert fmeasure(min(la, lo - 1), la, lo - 1) <= t
            assert fmeasure(la, la, hi + 1) <= t
            assert k_min == min(idx.bounds.need(la, lb) for lb in range(lo, hi + 1))



def test_need_by_length_table_is_need_inside_window_and_unreachable_outside():
    for t in (0.3, 0.7, 0.99):
        idx = RougeIndex(t)
        for la in list(range(1, 40)) + [137, 500]:
            lo, hi, _ = idx.bounds.window(la)
            if hi < lo:
                continue
            tab = idx.bounds.need_by_len(la, lo, hi)
            assert len(tab) == hi + 2
            for lb in range(hi + 2):
                if lo <= lb <= hi:
                    assert tab[lb] == idx.bounds.need(la, lb)
                else:
                    assert tab[lb] > 1 << 40  # no overlap bound reaches it


@pytest.mark.parametrize("threshold", [0.001, 0.02])
def test_tiny_thresholds_with_wide_windows_match_brute_force(threshold):
    texts = _near_duplicate_texts(120, seed=5)
    expected = _brute_force(texts, threshold)
    assert [m is None for m in RougeIndex(threshold).dedup(texts)] == expected

def _fast_rouge(texts):
    """rouge_l over pre-tokenized texts (the same LCS, fmeasure checked above), so the
    brute-force reference loops stay quick."""
    from rapidfuzz.distance import LCSseq

    vocab: dict[str, str] = {}
    enc = {t: "".join(vocab.setdefault(w, chr(len(vocab))) for w in tokenize(t)) for t in texts}

    def score(a, b):
        sa, sb = enc[a], enc[b]
        return fmeasure(LCSseq.similarity(sa, sb), len(sa), len(sb)) if sa and sb else 0.0

    return score


def _brute_force(texts, threshold, score=None):
    score = score or _fast_rouge(texts)
    kept, decisions = [], []
    for t in texts:
        best = max((score(k, t) for k in kept), default=0.0)
        if best > threshold:
            decisions.append(False)
        else:
            decisions.append(True)
            kept.append(t)
    return decisions


def _near_duplicate_texts(n, seed=0):
    rng = random.Random(seed)
    bases = [[rng.choice(WORDS) for _ in range(rng.randint(3, 25))] for _ in range(n // 8 + 1)]
    return [" ".join(_perturb(rng, rng.choice(bases))) for _ in range(n)]


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.7, 0.85, 1.0])
def test_index_keeps_same_set_as_brute_force(threshold):
    texts = _near_duplicate_texts(400, seed=3)
    expected = _brute_force(texts, threshold)
    got = [m is None for m in RougeIndex(threshold).dedup(texts)]
    assert got == expected
    assert 0 < sum(got) <= len(texts)


def test_index_agrees_with_rouge_score_loop(corpora):
    # the Alpaca-style loop with rouge-score itself, on real near-duplicate prompts
    rows = [json.loads(line) for line in gzip.open(corpora / "t0_prompts.jsonl.gz", "rt")]
    texts = [r["text"] for r in rows if len(r["text"]) < 250][:70]
    assert _brute_force(texts, 0.7, score=rs) == [m is None for m in RougeIndex(0.7).dedup(texts)]


def test_texts_past_the_histogram_range_match_brute_force():
    # over 255 tokens in one histogram bucket: such a kept text is let through unbounded
    rng = random.Random(11)
    texts = []
    for _ in range(40):
        words = ["the"] * rng.randint(260, 400) + [rng.choice(WORDS) for _ in range(rng.randint(0, 300))]
        if rng.random() < 0.5:
            rng.shuffle(words)
        texts.append(" ".join(_perturb(rng, words)))
    idx = RougeIndex(0.7)
    got = [m is None for m in idx.dedup(texts)]
    assert got == _brute_force(texts, 0.7)
    assert idx._any_unbounded and 1 < sum(got) < len(texts)


def test_incremental_equals_batch_and_reports_best_match():
    texts = _near_duplicate_texts(300, seed=5)
    batch = RougeIndex(0.7).dedup(texts)
    idx = RougeIndex(0.7)
    for t, expected in zip(texts, batch):
        m = idx.match(t)
        assert m == expected
        if m is None:
            idx.add(t)
        else:
            score, j = m
            # the reported match is the most similar kept text, with its true score
            assert score == rouge_l(idx.texts[j], t)
            assert score == max(rouge_l(k, t) for k in idx.texts)
            assert idx.most_similar(t)[0] == score


def test_pool_then_candidates():
    idx = RougeIndex(0.7)
    idx.add_many(["Give three tips for staying healthy.", "Give three tips for staying healthy."])
    assert len(idx) == 2
    assert idx.match("give three tips for staying healthy") == (1.0, 0)
    assert idx.match("Describe the water cycle in two sentences.") is None


def test_none_threshold_disables_and_bad_threshold_rejected():
    idx = RougeIndex(None)
    idx.add("same text here")
    assert idx.match("same text here") is None
    with pytest.raises(ValueError):
        RougeIndex(1.5)


def test_empty_and_symbol_only_texts_score_zero():
    assert rouge_l("!!!", "!!!") == rs("!!!", "!!!") == 0.0
    idx = RougeIndex(0.7)
    idx.add("???")
    assert idx.match("???") is None


# ---- CJK -----------------------------------------------------------------------------

def test_cjk_characters_are_tokens():
    assert tokenize("用Python写一个函数") == ["用", "python", "写", "一", "个", "函", "数"]
    assert tokenize("日本語のテキスト 한국어") == list("日本語のテキスト") + list("한국어")


def test_identical_chinese_scores_one_and_near_duplicates_are_caught():
    a = "请介绍一下高血压的常见症状和治疗方法。"
    assert rs(a, a) == 0.0  # what rouge-score does with Chinese
    assert rouge_l(a, a) == 1.0
    b = "请简单介绍高血压的常见症状及治疗方法。"
    assert rouge_l(a, b) > 0.7
    assert rouge_l(a, "如何预防感冒？") < 0.3
    idx = RougeIndex(0.7)
    idx.add(a)
    assert idx.match(b)[1] == 0
    assert idx.match("如何预防感冒？") is None


def test_huatuo_index_matches_brute_force(corpora):
    rows = [json.loads(line) for line in open(corpora / "huatuo_llama_data.jsonl", encoding="utf-8")]
    texts = [r["instruction"] for r in rows[:300]]
    got = [m is None for m in RougeIndex(0.7).dedup(texts)]
    assert got == _brute_force(texts, 0.7)
    assert sum(got) < len(texts)  # the data holds duplicates; they must go


def test_rouge_dedup_filter_detail():
    f = RougeDedup(0.7)
    f.add(Record("Give three tips for staying healthy."))
    assert f.check(Record("Give me three tips for staying healthy!")) == "rouge_dup"
    assert f.last_detail["most_similar"] == "Give three tips for staying healthy."
    assert f.last_detail["rouge_l"] == round(rs("Give three tips for staying healthy.",
                                                 "Give me three tips for staying healthy!"), 4)
    assert f.check(Record("Summarize this article in one line.")) is None
    assert f.last_detail == {}


def test_most_similar_is_exact_maximum():
    texts = _near_duplicate_texts(200, seed=9)
    idx = RougeIndex(0.95)
    idx.add_many(texts[:150])
    score = _fast_rouge(texts)
    for t in texts[150:]:
        best, j = idx.most_similar(t)
        expected = max(score(k, t) for k in texts[:150])
        assert best == expected and score(texts[j], t) == best
        assert j == min(i for i, k in enumerate(texts[:150]) if score(k, t) == best)
    assert RougeIndex().most_similar("anything") == (0.0, -1)


def test_rouge_dedup_skips_the_records_own_lineage():
    f = RougeDedup(0.7)
    parent = "Write a detailed plan for a community garden in a small town with a limited budget."
    other = "Summarise the history of the printing press and its effect on literacy in Europe."
    f.add_many([Record(parent), Record(other)])
    evolved = parent + " Include a timeline."
    lineage = {"lineage": [{"id": "s1", "instruction": parent, "method": "seed"}]}
    assert f.check(Record(evolved, meta=lineage)) is None
    assert f.check(Record(evolved)) == "rouge_dup"
    assert f.check(Record(other + " Include dates.", meta=lineage)) == "rouge_dup"
