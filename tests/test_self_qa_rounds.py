"""Pipelined Self-QA rounds: the next round's question requests go out while this round's
answers are requested, and the kept set stays what the one-round-at-a-time loop keeps."""

from __future__ import annotations

import random
import re

from datagen.filters import FilterConfig, build_chain
from datagen.generators.self_qa import SelfQAConfig, SelfQAGenerator
from datagen.llm import LLMConfig, make_client
from datagen.run.runner import run_generator
from stub_server import Reply, StubLLMServer, chat_body

WORDS = ("tea leaf river stone copper lantern orchard meadow harbor violin glacier basket falcon "
         "prairie compass marble ember quartz willow canyon beacon thistle saffron juniper").split()


def write_docs(tmp_path, paragraphs: int = 30):
    rng = random.Random(7)
    paras = []
    for k in range(paragraphs):
        sents = [f"The {rng.choice(WORDS)} of {rng.choice(WORDS)} holds {rng.choice(WORDS)} number {k}{j}."
                 for j in range(4)]
        paras.append(" ".join(sents))
    d = tmp_path / "docs"
    d.mkdir()
    (d / "corpus.md").write_text("\n\n".join(paras), encoding="utf-8")
    return d


def responder(body):
    """Questions from the chunk's words; one question every chunk asks (a duplicate across
    rounds), one that is refused, answers that quote the chunk or drift off it."""
    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    question = re.search(r"Question: (.+)$", prompt)
    if question and "\n>>>" in prompt.split(question.group(0))[0]:
        q = question.group(1)
        if "refuse" in q:
            return "The text does not say."
        if q.startswith("When"):
            return "Nobody can know such things about " + " ".join(random.Random(q).sample(WORDS, 3)) + "."
        return chunk.split(". ")[0] + "."
    nums = re.findall(r"number (\d+)", chunk)
    rng = random.Random(chunk)
    qs = [f"{rng.choice(('Why', 'How', 'When'))} does {' '.join(rng.sample(WORDS, 4))} hold {n}?" for n in nums[:3]]
    qs += ["What does every stone hold?", f"Should we refuse number {nums[0]}?"]
    return "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[2:]


def run(url, docs, num, **cfg):
    cfg = {"lang": "en", "chunk_chars": 200, "overlap": 0, "batch": 3, "questions_per_chunk": 5, **cfg}
    gen = SelfQAGenerator(SelfQAConfig(docs=str(docs), **cfg))
    client = make_client(LLMConfig(backend="openai", base_url=[url], model="stub", max_retries=0,
                                   concurrency=16, cache=False))
    chain = build_chain(FilterConfig(embed=None, rouge=0.8), gen.lang)
    try:
        return gen, run_generator(gen, client, chain, num)
    finally:
        client.close()


def kept(result):
    return [r.instruction for r in result.kept]


def digest(instructions):
    import hashlib

    return hashlib.sha256("\n".join(instructions).encode()).hexdigest()[:16]


# the kept instructions, in order, of the one-round-at-a-time loop before rounds were
# pipelined (commit e0229b9), for (num, batch): a stop mid-round, small rounds, every chunk
REFERENCE = {(25, 3): (25, "5a20e27b62a5d456"), (40, 2): (40, "f8b21ed901689ba3"),
             (1000, 4): (70, "b31756a0f4ea2c8e")}


def test_strict_and_pipelined_keep_what_the_unpipelined_loop_kept(tmp_path):
    docs = write_docs(tmp_path)
    with StubLLMServer(responder) as stub:
        for (num, batch), (n, ref) in REFERENCE.items():
            _, strict = run(stub.url, docs, num, batch=batch, strict_rounds=True)
            _, piped = run(stub.url, docs, num, batch=batch)
            assert (len(kept(strict)), digest(kept(strict))) == (n, ref)
            assert kept(piped) == kept(strict)
            # the order-sensitive drops happened in both: across rounds, and at the stop
            reasons = {r["reason"] for r in piped.rejects}
            assert {"duplicate_question", "answer_refusal", "answer_not_grounded"} <= reasons


def _questions_before_first_answer(stub) -> int:
    n = 0
    for body in stub.requests:
        if "Question: " in body["messages"][0]["content"]:
            return n
        n += 1
    return n


def test_next_rounds_questions_go_out_while_this_rounds_answers_are_requested(tmp_path):
    """Strict: a round's answers are asked for before the next round's questions. Pipelined:
    several rounds' questions are out before the first answer request; more in flight."""
    def slow(body):
        return Reply(body=chat_body(responder(body)), delay=0.05)

    docs = write_docs(tmp_path)
    with StubLLMServer(slow) as stub:
        _, strict = run(stub.url, docs, 1000, batch=2, strict_rounds=True)
        strict_first = _questions_before_first_answer(stub)
        stub.requests.clear()
        _, piped = run(stub.url, docs, 1000, batch=2, rounds_in_flight=4)
        piped_first = _questions_before_first_answer(stub)
    assert strict_first == 2
    assert piped_first >= 4  # at least two rounds' question requests
    assert kept(piped) == kept(strict)
    assert piped.throughput["peak_in_flight"] > strict.throughput["peak_in_flight"]


def test_a_run_that_reaches_num_abandons_the_rounds_in_flight(tmp_path):
    docs = write_docs(tmp_path)
    with StubLLMServer(responder) as stub:
        gen, piped = run(stub.url, docs, 3, batch=1, rounds_in_flight=6)
    assert len(kept(piped)) == 3
    assert gen.report.stop_reason == "reached --num 3"
    assert gen.report.counts["kept"] == 3
    assert gen.report.counts["abandoned_rounds"] >= 1  # planned before the first round came back


def test_a_failed_round_stops_the_run_with_the_error(tmp_path):
    import pytest

    from datagen.errors import LLMError

    def failing(body):
        if "Question: " in body["messages"][0]["content"]:
            return Reply(status=400, body={"error": {"message": "bad request", "type": "invalid_request_error"}})
        return Reply(body=chat_body(responder(body)))

    docs = write_docs(tmp_path)
    with StubLLMServer(failing) as stub, pytest.raises(LLMError):
        run(stub.url, docs, 1000, batch=2)
