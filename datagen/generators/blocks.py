"""Per-block work, for generators whose input shards: Self-QA (chunks), Self-KG (fact
groups). A generator opts in with a `blocks()` / `run_block(block, client)` pair (see
`BlockWork`); the run layer's executor (datagen/run/executor.py) then runs the blocks
here or as Ray tasks, and checks their candidates through the chain on the driver.

A block is one round of the generator's own `generate()` on just that slice of its
input, against a chain that keeps everything: the outcomes are the generator's own
drops plus candidates (stage "instruction") for the driver's chain. Requests are seeded
per item (stable_seed per chunk / fact group), so a block asks the same requests
wherever it runs, and blocks taken in order give the records a local run keeps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..filters.base import FilterChain
from ..llm.ledger import BudgetExceeded
from .base import GenerationReport, Outcome

CANDIDATE_STAGE = "instruction"  # what the chain decides on; every other stage is the generator's own drop
_UNBOUNDED = 10**9


@dataclass
class BlockResult:
    outcomes: list[Outcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    prompt_templates: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped: dict[str, Any] | None = None  # the block's budget ran out (llm/ledger.py)


@runtime_checkable
class BlockWork(Protocol):
    def blocks(self) -> list[Any]:
        """The input in the order a run takes it, cut into picklable blocks."""

    def run_block(self, block: Any, client, asked_before: frozenset = frozenset()) -> BlockResult:
        """One block's requests and the generator's own checks; no shared filter chain.
        `asked_before`: `digest`s of what the blocks before it asked (those whose results
        the driver had when it sent this one), so a repeat is dropped before it is paid for."""

    def accept_block(self, outcomes: list[Outcome], state: dict) -> list[Outcome]:
        """On the driver, in block order: drop what only the whole run can see (a question
        an earlier block already asked). `state` lives for one run."""


def digest(text: str) -> int:
    """64 bits of a question's hash: what the driver sends a block of the questions asked
    before it (~9 bytes each pickled, not the text)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class Asked(set):
    """The questions a run has asked: this process's, and (a Ray block) the `digest`s of
    those the blocks before it asked."""

    def __init__(self, before: frozenset = frozenset()):
        super().__init__()
        self.before = before

    def __contains__(self, text) -> bool:
        return set.__contains__(self, text) or (bool(self.before) and digest(text) in self.before)


def split(items: list, size: int) -> list[list]:
    return [items[i: i + size] for i in range(0, len(items), max(1, size))]


def run_alone(gen, block: list, client, asked_before: frozenset = frozenset()) -> BlockResult:
    """Run `gen.generate` on `block` only (the copy's `_block` replaces its input order),
    with a chain that keeps everything: its outcomes are drops and candidates."""
    sub = copy.copy(gen)
    sub._block = list(block)
    sub._asked_before = asked_before
    base = dict(gen.report.counts)  # what __init__ counted (inputs): reported once, by the driver
    sub.report = GenerationReport(counts=dict(base))
    outcomes, stopped = [], None
    try:
        for outcome in sub.generate(client, FilterChain([]), _UNBOUNDED):
            outcomes.append(outcome)
    except BudgetExceeded as stop:  # the block's share of the cap: what it finished counts
        stopped = stop.figures or {"reason": "budget", "detail": str(stop)}
    counts = {k: v - base.get(k, 0) for k, v in sub.report.counts.items()
              if k != "kept" and v != base.get(k, 0)}  # this block's work only
    return BlockResult(outcomes, counts, dict(sub.report.prompt_templates), list(sub.report.notes), stopped)
