"""Pairwise LLM judging of adapter vs base, asked in both orders.

A judge tends to prefer the answer in one position. Each item is judged twice, adapter
as A then as B; a win (or loss) counts only when both orders agree, and any other pair of
verdicts is a tie (MT-Bench's rule), so position bias cancels instead of inflating either
side. A reply without a clear verdict is recorded as malformed with its text — never
guessed — and the item counts as neither win, tie nor loss.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..llm.stages import JUDGE
from ..prompts import load_prompt
from ..records import Record

PROMPT = "eval_pairwise"
VERDICTS = ("A", "B", "tie")
_TIE_WORDS = {"tie", "平局", "平手", "相当"}
_LINE = re.compile(r"^\W*(?:verdict|判断|结论|裁决)\s*[:：]\s*(.+?)\W*$", re.IGNORECASE)


def pairwise_prompt(rec: Record, answer_a: str, answer_b: str, lang: str = "en") -> str:
    return load_prompt(PROMPT, lang).render(
        instruction=rec.instruction.strip(), input=rec.input.strip() or "-", reference=rec.output.strip() or "-",
        answer_a=answer_a.strip() or "(empty)", answer_b=answer_b.strip() or "(empty)")


def _verdict_word(text: str) -> str | None:
    t = text.strip().strip("*`\"'“”「」[]()（）.。!！").strip()
    if t.upper() in ("A", "B"):
        return t.upper()
    if t.lower() in _TIE_WORDS:
        return "tie"
    return None


def parse_verdict(reply: str) -> str | None:
    """'A', 'B' or 'tie' from a judge reply ending in `Verdict: X` (or being just X);
    None when there is no such line or it says something else."""
    lines = [ln for ln in (reply or "").strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        m = _LINE.match(ln.strip())
        if m:
            return _verdict_word(m.group(1))
    if len(lines) == 1:
        return _verdict_word(lines[0])
    return None


def adapter_view(verdict: str | None, adapter_is: str) -> str:
    """One order's verdict from the adapter's side: win, loss, tie or malformed."""
    if verdict is None:
        return "malformed"
    if verdict == "tie":
        return "tie"
    return "win" if verdict == adapter_is else "loss"


def combine(first: str, second: str) -> str:
    """Both orders -> the item's outcome: agreement wins/loses, anything else ties."""
    if "malformed" in (first, second):
        return "malformed"
    if first == second and first in ("win", "loss"):
        return first
    return "tie"


def judge_requests(items: Sequence[Record], adapter_answers: Sequence[str], base_answers: Sequence[str],
                   lang: str = "en", max_tokens: int = 256):
    """Two requests per item: adapter as A (base B), then base as A (adapter B)."""
    from ..llm import ChatRequest

    reqs = []
    for rec, ad, ba in zip(items, adapter_answers, base_answers):
        for a, b in ((ad, ba), (ba, ad)):
            msgs = [{"role": "user", "content": pairwise_prompt(rec, a, b, lang)}]
            reqs.append(ChatRequest.make(msgs, temperature=0.0, max_tokens=max_tokens))
    return reqs


def judge_pairs(client, items: Sequence[Record], adapter_answers: Sequence[str], base_answers: Sequence[str],
                lang: str = "en") -> list[dict[str, Any]]:
    """Per item: {"outcome", "orders": [{"adapter_is", "reply", "verdict", "view"}, ...]}."""
    reqs = judge_requests(items, adapter_answers, base_answers, lang)
    replies = client.chat_many(reqs, desc=JUDGE)
    out = []
    for i in range(len(items)):
        orders = []
        for j, adapter_is in enumerate(("A", "B")):
            comps = replies[2 * i + j]
            text = comps[0].text if comps else ""
            verdict = parse_verdict(text)
            orders.append({"adapter_is": adapter_is, "reply": text, "verdict": verdict,
                           "view": adapter_view(verdict, adapter_is)})
        out.append({"outcome": combine(orders[0]["view"], orders[1]["view"]), "orders": orders})
    return out


def tally(outcomes: Sequence[str]) -> dict[str, Any]:
    """Counts of win/tie/loss/malformed and rates over the judged (non-malformed) items."""
    counts = {k: sum(o == k for o in outcomes) for k in ("win", "tie", "loss", "malformed")}
    judged = counts["win"] + counts["tie"] + counts["loss"]
    rates = {f"{k}_rate": round(counts[k] / judged, 6) if judged else None for k in ("win", "tie", "loss")}
    return {**counts, "judged": judged, **rates}
