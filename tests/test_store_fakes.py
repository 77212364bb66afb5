"""A tiny deterministic generator and stub responder for the store/pipeline tests.

The generator asks the stub for one task per request, seeded from its config seed, so a
re-run repeats its requests exactly (and hits the response cache) while another seed asks
new ones. The responder turns each request into distinct random words, so ROUGE dedup
only fires on real repeats.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Iterator

from datagen.filters.base import FilterChain, Verdict
from datagen.generators.base import Generator, GeneratorConfig, Outcome
from datagen.llm.base import ChatRequest
from datagen.records import Record

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "ve", "zo", "bi", "do", "fu", "ge")
         for b in ("ran", "lek", "mot", "pul", "sin", "tav", "wex", "yor", "zun", "bim", "cod", "dap", "fen", "gul")]


def words_for(body: dict, n: int = 8) -> str:
    key = repr(body.get("seed")) + repr(body.get("messages"))
    rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
    return " ".join(rng.sample(WORDS, n))


def responder(body: dict) -> str:
    """Distinct text per (seed, prompt); a prompt containing 'REPEAT' gets a fixed reply."""
    users = [m["content"] for m in body.get("messages", []) if m["role"] == "user"]
    if users and "REPEAT" in users[-1]:
        return "Describe the weather in the capital of France today"
    return "Write about " + words_for(body)


@dataclass
class FakeConfig(GeneratorConfig):
    repeat_every: int = 0  # every k-th request asks for the fixed (duplicate) reply
    crash_after: int = 0  # raise after this many requests (a simulated kill)
    batch: int = 1


class FakeGenerator(Generator):
    name = "fake"
    config_cls = FakeConfig

    def __init__(self, config: FakeConfig | None = None):
        super().__init__(config or FakeConfig())

    def requests(self, start: int, count: int) -> list[ChatRequest]:
        out = []
        for i in range(start, start + count):
            repeat = self.config.repeat_every and i % self.config.repeat_every == 0
            prompt = f"Task {i}: REPEAT" if repeat else f"Task {i}: invent an instruction"
            out.append(ChatRequest.make([{"role": "user", "content": prompt}], max_tokens=32,
                                        seed=self.config.seed * 100_000 + i))
        return out

    def generate(self, client, chain: FilterChain, num: int) -> Iterator[Outcome]:
        kept = i = 0
        self.report.prompt_templates = {"en/fake": "0123456789ab"}
        while kept < num and i < num * 5:
            n = min(self.config.batch, num - kept)
            if self.config.crash_after and i + n > self.config.crash_after:
                raise KeyboardInterrupt("simulated kill")
            for comps in client.chat_many(self.requests(i, n)):
                rec = Record(instruction=comps[0].text, output="An answer.", meta={"source": "fake"})
                verdict: Verdict = chain.check(rec)
                kept += verdict.kept
                yield Outcome(rec, verdict)
            i += n
        self.report.stop_reason = "reached num" if kept >= num else "gave up"
