"""Deciding a preference pair from pairwise judgements (pure functions).

Every pair of an instruction's responses is judged twice, each response once as A and
once as B (datagen/eval/judge.py's prompt and parser). A comparison counts only when both
orders agree; disagreement is `inconsistent`, two ties a `tie`. A response's score is its
consistent wins minus its consistent losses (a Copeland score). The chosen response is
the best-scored, the rejected the worst; the pair is kept when the judge preferred the
chosen over the rejected consistently and the margin, the score gap over its largest
possible value 2 * (n - 1), reaches `min_margin`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class Response:
    model: str
    text: str
    finish_reason: str = "stop"


@dataclass
class Comparison:
    """Responses i and j, judged with i as A then with j as A."""

    i: int
    j: int
    verdicts: tuple[str | None, str | None]  # 'A' / 'B' / 'tie' / None (malformed), per order
    replies: tuple[str, str] = ("", "")

    @property
    def outcome(self) -> str:
        """'i' or 'j' (a consistent winner), 'tie', 'inconsistent' or 'malformed'."""
        first, second = self.verdicts
        if first is None or second is None:
            return "malformed"
        # order 1: i is A; order 2: j is A, so 'B' there means i
        one = {"A": "i", "B": "j"}.get(first, "tie")
        two = {"A": "j", "B": "i"}.get(second, "tie")
        if one == two:
            return one
        return "inconsistent"


def pairs_to_judge(n: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n), 2))


@dataclass
class Decision:
    chosen: int | None = None
    rejected: int | None = None
    reason: str | None = None  # None: kept
    scores: list[int] = field(default_factory=list)
    margin: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def scores(n: int, comparisons: Sequence[Comparison]) -> list[int]:
    out = [0] * n
    for c in comparisons:
        if c.outcome == "i":
            out[c.i] += 1
            out[c.j] -= 1
        elif c.outcome == "j":
            out[c.j] += 1
            out[c.i] -= 1
    return out


def decide(responses: Sequence[Response], comparisons: Sequence[Comparison], min_margin: float) -> Decision:
    """The pair to keep, or the reason there is none: `too_few_responses`, `judge_malformed`,
    `tie`, `inconsistent` (of the chosen-vs-rejected comparison) or `low_margin`."""
    usable = [k for k, r in enumerate(responses) if r.text.strip() and r.finish_reason != "length"]
    if len(usable) < 2:
        return Decision(reason="too_few_responses", detail={"usable": len(usable)})
    comps = [c for c in comparisons if c.i in usable and c.j in usable]
    if comps and all(c.outcome == "malformed" for c in comps):
        return Decision(reason="judge_malformed")
    sc = scores(len(responses), comps)
    # best first; on equal scores the earlier response (deterministic)
    ranked = sorted(usable, key=lambda k: (-sc[k], k))
    chosen, rejected = ranked[0], ranked[-1]
    top = 2 * (len(usable) - 1)
    margin = round((sc[chosen] - sc[rejected]) / top, 4) if top else 0.0
    d = Decision(chosen=chosen, rejected=rejected, scores=sc, margin=margin)
    direct = next((c for c in comps if {c.i, c.j} == {chosen, rejected}), None)
    outcome = direct.outcome if direct is not None else "malformed"
    winner = None if direct is None else (direct.i if outcome == "i" else direct.j if outcome == "j" else None)
    d.detail = {"direct": outcome, "margin": margin}
    if winner is None:
        d.reason = {"tie": "tie", "inconsistent": "inconsistent"}.get(outcome, "judge_malformed")
    elif winner != chosen:  # a cycle: the best-scored lost to the worst
        d.reason = "inconsistent"
    elif margin < min_margin:
        d.reason = "low_margin"
    return d
