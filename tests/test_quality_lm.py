"""IFD and perplexity with the embedded SmolLM2, checked against plain forward passes."""

from __future__ import annotations

import math

import pytest

from datagen.quality.lm import IFDScorer, LMScorer, PerplexityScorer, prompt_and_answer
from datagen.records import Record

pytestmark = pytest.mark.model

RECORDS = [
    Record(instruction="Name the capital of France.", output="The capital of France is Paris."),
    Record(instruction="Translate to German.", input="Good morning, my friend.",
           output="Guten Morgen, mein Freund. Wie geht es dir heute?"),
    Record(instruction="List two colors.", output="Red and blue."),
    Record(instruction="把这句话翻译成英文。", input="我喜欢喝茶。", output="I like drinking tea."),
]


@pytest.fixture(scope="module")
def lm():
    return LMScorer(batch_size=4)


def reference(model, tok, record):
    """(loss given instruction, loss alone), one record at a time, no padding."""
    import torch

    messages, answer = prompt_and_answer(record)
    p = tok(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
            add_special_tokens=False)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"]

    def mean_nll(ids, first):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        logp = torch.log_softmax(logits, dim=-1)
        return sum(-logp[k - 1, ids[k]].item() for k in range(first, len(ids))) / (len(ids) - first)

    return mean_nll(p + a, len(p)), mean_nll(a, 1)


def test_ifd_equals_the_hand_computed_loss_ratio(lm):
    model, tok = lm.load()
    got = IFDScorer(lm).score_many(RECORDS)  # two padded batches of 4 sequences
    for r, s in zip(RECORDS, got):
        cond, alone = reference(model, tok, r)
        # fp32 in oneDNN's summation order vs MKL's: ~2e-5 relative on a loss
        assert s["loss_given_instruction"] == pytest.approx(cond, rel=1e-4)
        assert s["loss_alone"] == pytest.approx(alone, rel=1e-4)
        assert s["value"] == pytest.approx(cond / alone, abs=1e-4)
    # the instruction helps predict these answers
    assert all(s["value"] < 1 for s in got)
    ppl = PerplexityScorer(lm).score_many(RECORDS)
    for s, i in zip(ppl, got):
        assert s["value"] == pytest.approx(math.exp(i["loss_alone"]), rel=1e-5)


def test_batched_equals_one_at_a_time(lm):
    batched = IFDScorer(lm).score_many(RECORDS)
    single = [IFDScorer(LMScorer(batch_size=1, _model=lm._model, _tok=lm._tok)).score_many([r])[0] for r in RECORDS]
    for b, s in zip(batched, single):
        assert b["value"] == pytest.approx(s["value"], abs=1e-5)


def test_no_answer_is_an_error_not_a_score(lm):
    (s,) = IFDScorer(lm).score_many([Record(instruction="Say nothing.", output="")])
    assert s["value"] is None and s["error"] == "no_answer"


def test_multi_turn_scores_the_last_answer():
    conv = Record(instruction="Hi", output="Paris.", messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}])
    msgs, answer = prompt_and_answer(conv)
    assert answer == "Paris." and [m["role"] for m in msgs] == ["user", "assistant", "user"]


def test_local_judge_scores_by_likelihood():
    from datagen.llm.local import LocalChatClient
    from datagen.quality.judge import JudgeScorer

    client = LocalChatClient()
    (s,) = JudgeScorer(client).score_many(RECORDS[:1])
    client.close()
    assert s["value"] in (1, 2, 3, 4, 5) and s["method"] == "likelihood" and 1 <= s["expected"] <= 5
    assert client.usage.requests == 1


def test_batches_never_mix_conditioned_and_answer_alone():
    lm = LMScorer(batch_size=4)
    order = list(range(7))
    groups = [False, False, False, True, True, True, True]
    assert lm._batches(order, groups) == [[0, 1, 2], [3, 4, 5, 6]]
    assert LMScorer(batch_size=2)._batches(order, groups) == [[0, 1], [2], [3, 4], [5, 6]]


def test_onednn_path_equals_mkl_and_leaves_the_model_alone(lm):
    import torch

    fast = IFDScorer(lm).score_many(RECORDS)
    plain = IFDScorer(LMScorer(batch_size=4, onednn=False, _model=lm._model, _tok=lm._tok)).score_many(RECORDS)
    for f, p in zip(fast, plain):
        assert f["value"] == pytest.approx(p["value"], abs=3e-5)
        assert f["loss_alone"] == pytest.approx(p["loss_alone"], rel=1e-4)
    # outside scoring every layer is the plain nn.Linear again
    linears = [m for m in lm._model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all("forward" not in m.__dict__ for m in linears)


def test_head_chunks_and_the_conversion_fallback_give_the_same_values(lm, monkeypatch):
    import datagen.quality.lm as lm_mod

    base = IFDScorer(lm).score_many(RECORDS)
    monkeypatch.setattr(lm_mod, "HEAD_ROWS", 3)  # many head chunks, one ending mid-sequence
    chunked = IFDScorer(lm).score_many(RECORDS)
    # torch builds without oneDNN's dense-tensor linear convert each activation instead
    monkeypatch.setattr(lm_mod, "_fused_linear", lambda: False)
    converted = IFDScorer(lm).score_many(RECORDS)
    for b, c, d in zip(base, chunked, converted):
        assert c["value"] == pytest.approx(b["value"], abs=2e-6)
        assert c["loss_alone"] == pytest.approx(b["loss_alone"], rel=1e-5)
        assert d["value"] == pytest.approx(b["value"], abs=1e-5)
        assert d["loss_given_instruction"] == pytest.approx(b["loss_given_instruction"], rel=1e-5)
