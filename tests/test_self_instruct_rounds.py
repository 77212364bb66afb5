"""Pipelined Self-Instruct rounds: the next round's requests overlap this round's work,
and the kept set stays a pure function of the seed (strict or not)."""

from __future__ import annotations

import random
import threading
import time

import numpy as np

from datagen.filters import FilterConfig, build_chain
from datagen.filters.embedding import EmbeddingDedup
from datagen.generators.rounds import RoundPipeline
from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
from datagen.llm import LLMConfig, make_client
from datagen.run.runner import format_summary, run_generator
from stub_server import Reply, StubLLMServer, chat_body
from test_self_instruct import SEEDS_EN, Script
from test_store_fakes import WORDS



def fresh_tasks(body, user):
    """A new numbered list per prompt (seeded by the request), so rounds keep finding tasks."""
    rng = random.Random(str(body.get("seed")) + user[-200:])
    lines = []
    for i in range(10, 16):
        lines.append(f"{i}. Describe " + " ".join(rng.sample(WORDS, 7)) + ".")
    return " " + "\n".join(lines)


def run(url, num, **cfg):
    cfg.setdefault("batch", 2)
    gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(SEEDS_EN)], **cfg))
    client = make_client(LLMConfig(backend="openai", base_url=[url], model="stub", max_retries=0,
                                   concurrency=16, cache=False))
    chain = build_chain(FilterConfig(embed=None), gen.lang)
    try:
        return gen, run_generator(gen, client, chain, num), client
    finally:
        client.close()


def kept_instructions(result):
    return sorted({r.instruction for r in result.kept})


def test_pipelined_and_strict_each_repeat_exactly_for_a_seed():
    with StubLLMServer(Script(bootstrap=fresh_tasks)) as stub:
        strict = [kept_instructions(run(stub.url, 12, strict_rounds=True)[1]) for _ in range(2)]
        piped = [kept_instructions(run(stub.url, 12)[1]) for _ in range(2)]
    assert strict[0] == strict[1] and piped[0] == piped[1]
    assert len(strict[0]) >= 12 and len(piped[0]) >= 12


def test_a_round_plans_from_the_tasks_finished_when_it_starts():
    """Round 2 starts while round 1 is still in flight: its prompts use no machine task
    in pipelined mode, and round 1's tasks in strict mode."""
    def machine_examples(result, rnd):
        return [sum(e.startswith("si-") for e in r["record"]["meta"]["prompt_examples"])
                for r in result.rejects if r["record"]["meta"].get("round") == rnd and "prompt_examples" in
                r["record"]["meta"]]

    with StubLLMServer(Script()) as stub:
        _, strict, _ = run(stub.url, 50, batch=1, max_rounds=2, strict_rounds=True)
        _, piped, _ = run(stub.url, 50, batch=1, max_rounds=2, rounds_in_flight=2)
    assert set(machine_examples(strict, 2)) == {2}
    assert set(machine_examples(piped, 2)) == {0}


def test_rounds_overlap_in_flight():
    """With a slow server, more requests are in flight at once than one round's stage has."""
    def slow(body):
        # 0.1 s: the ratio below depends less on the CPU (1.41-2.11 over 25 runs at 0.05 s)
        return Reply(body=chat_body(Script(bootstrap=fresh_tasks)(body)), delay=0.1)

    with StubLLMServer(slow) as stub:
        _, strict, c1 = run(stub.url, 16, strict_rounds=True)
        _, piped, c2 = run(stub.url, 16)
    # both reach the cap of 16 at times (a round's re-asks and answers go out together);
    # only overlapping rounds keep the pipe that full on average
    assert piped.throughput["mean_in_flight"] > 1.3 * strict.throughput["mean_in_flight"]
    assert len(piped.kept) and len(strict.kept)
    t = piped.throughput
    assert t["peak_in_flight"] == c2.usage.peak_in_flight and 0 < t["mean_in_flight"] <= t["peak_in_flight"]
    assert 0 <= t["first_request_s"] < piped.seconds
    assert "throughput:" in format_summary(piped) and "mean in-flight" in format_summary(piped)


class SlowEncoder:
    """Encodes slowly and records how many requests were in flight while it worked."""

    def __init__(self, client_box):
        self.box, self.calls, self.in_flight_seen = client_box, [], []

    def __call__(self, texts):
        self.calls.append(len(texts))
        for _ in range(5):
            time.sleep(0.04)
            self.in_flight_seen.append(self.box[0].usage.in_flight if self.box else 0)
        rng = np.random.default_rng(len(self.calls))
        v = rng.normal(size=(len(texts), 16)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_slow_encoding_does_not_stop_the_requests():
    """Each round's candidates are encoded in one call, and while a round encodes, other
    rounds' requests are in flight."""
    def slow(body):
        # 0.1 s: the ratio below depends less on the CPU (1.41-2.11 over 25 runs at 0.05 s)
        return Reply(body=chat_body(Script(bootstrap=fresh_tasks)(body)), delay=0.1)

    with StubLLMServer(slow) as stub:
        gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(SEEDS_EN)], batch=2))
        client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0,
                                       concurrency=16, cache=False))
        enc = SlowEncoder([client])
        chain = build_chain(FilterConfig(embed=None), "en")
        chain.filters.append(EmbeddingDedup(0.99, encoder=enc))
        try:
            result = run_generator(gen, client, chain, 16)
        finally:
            client.close()
    rounds = result.report.counts["rounds"] + result.report.counts.get("abandoned_rounds", 0)
    assert len(result.kept) >= 16
    # one call for the seed pool, then one per round (not one per candidate)
    assert len(enc.calls) <= rounds + 1 and max(enc.calls) > 1
    assert max(enc.in_flight_seen) > 0


def test_round_pipeline_finishes_in_order_and_aborts_the_rest():
    started, finished = [], []

    def plan():
        return len(started) + 1 if len(started) < 6 else None

    def work(n, args, turn):
        started.append(n)
        time.sleep(0.02 * (7 - n))  # later rounds return first
        with turn:
            finished.append(n)
        return n

    out = []

    def finish(n, result):
        out.append(result)
        yield result

    got = []
    for x in RoundPipeline(3).run(plan, work, finish):
        got.append(x)
        if x == 2:
            break  # the consumer has enough: rounds in flight stop at their next stage
    assert got == [1, 2] and finished == sorted(finished)
    assert threading.active_count() < 20
