"""LLM-as-judge (AlpaGasus): the judge model rates each record 1–5 with a one-line reason.

Prompt building and reply parsing are pure functions. The reply is parsed strictly —
JSON, or `Score: N` lines — and a reply that says nothing parseable gets one repair turn
(the judge is shown its reply and asked for the format); if that fails too the record is
marked `judge_failed`, never given a guessed score. On the local backend, where a 135M
model rarely writes valid JSON, each score is the most likely option of "1".."5" after
the JSON prefix instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

from ..llm import stages
from ..llm.base import ChatClient, ChatRequest
from ..prompts import load_prompt
from ..records import Record

OPTIONS = ("1", "2", "3", "4", "5")
ASPECTS = ("instruction", "input", "output")
NO_INPUT = {"en": "(none)", "zh": "（无）"}
FORMATS = {
    False: '{"score": <1-5>, "reason": "<one line>"}',
    True: '{"instruction": <1-5>, "input": <1-5>, "output": <1-5>, "reason": "<one line>"}',
}
_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_LINE_RES = {
    "score": re.compile(r"^[\s*#>-]*(?:score|rating|overall|评分|分数|得分)[\s*]*[:：]\s*\**\s*" + _NUM + r"\b",
                        re.I | re.M),
    "instruction": re.compile(r"^[\s*#>-]*(?:instruction|指令)[\s*]*[:：]\s*\**\s*" + _NUM + r"\b", re.I | re.M),
    "input": re.compile(r"^[\s*#>-]*(?:input|输入)[\s*]*[:：]\s*\**\s*" + _NUM + r"\b", re.I | re.M),
    "output": re.compile(r"^[\s*#>-]*(?:output|response|回答|输出)[\s*]*[:：]\s*\**\s*" + _NUM + r"\b",
                         re.I | re.M),
}
_REASON_RE = re.compile(r"^[\s*#>-]*(?:reason|rationale|explanation|理由|原因)[\s*]*[:：]\s*(.+)$", re.I | re.M)


def judge_prompt(record: Record, lang: str = "en", aspects: bool = False) -> str:
    name = "quality_judge_aspects" if aspects else "quality_judge"
    return load_prompt(name, lang).render(instruction=record.instruction.strip(),
                                          input=record.input.strip() or NO_INPUT[lang],
                                          output=record.output.strip())


def repair_prompt(lang: str = "en", aspects: bool = False) -> str:
    return load_prompt("quality_judge_repair", lang).render(format=FORMATS[aspects])


def _as_score(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str) and re.fullmatch(r"\s*" + _NUM + r"\s*", v):
        v = float(v)
    if isinstance(v, (int, float)) and 1 <= v <= 5:
        return int(v) if float(v).is_integer() else float(v)
    return None


def _json_object(text: str) -> dict | None:
    """The one JSON object in a reply (bare, or in a ``` fence); None if none parses."""
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    cands = [fenced.group(1)] if fenced else re.findall(r"\{[^{}]*\}", text, re.S)
    objs = []
    for c in cands:
        try:
            obj = json.loads(c)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            objs.append(obj)
    return objs[0] if len(objs) == 1 else None


def parse_judgement(text: str, aspects: bool = False) -> dict | None:
    """{value, reason[, aspects]} from a judge reply, or None when it cannot be read.

    Single score: JSON {"score": N, "reason": …} or a `Score: N` line (a second, different
    `Score:` makes the reply ambiguous: None). Aspects: all three of instruction/input/
    output, each 1–5; the value is the lowest (a record is only as good as its worst
    part)."""
    keys = ASPECTS if aspects else ("score",)
    obj = _json_object(text)
    found: dict[str, float] = {}
    reason = None
    if obj is not None:
        low = {str(k).lower(): v for k, v in obj.items()}
        for k in keys:
            s = _as_score(low.get(k))
            if s is not None:
                found[k] = s
        r = low.get("reason") or low.get("rationale") or low.get("explanation")
        reason = r.strip() if isinstance(r, str) and r.strip() else None
    if len(found) < len(keys):
        found = {}
        for k in keys:
            hits = {_as_score(m) for m in _LINE_RES[k].findall(text)}
            if len(hits) != 1 or None in hits:
                return None
            found[k] = hits.pop()
        m = _REASON_RE.search(text)
        reason = m.group(1).strip() if m else None
    out: dict = {"value": min(found.values()) if aspects else found["score"]}
    if aspects:
        out["aspects"] = {k: found[k] for k in ASPECTS}
    if reason:
        out["reason"] = reason.splitlines()[0][:300]
    return out


@dataclass
class JudgeScorer:
    """Scores records with the judge client; `aspects` asks for the three-part rubric."""

    client: ChatClient
    lang: str = "en"
    aspects: bool = False
    max_tokens: int = 160
    name: str = "judge"

    def _requests(self, records: Sequence[Record]) -> list[ChatRequest]:
        return [ChatRequest.make([{"role": "user", "content": judge_prompt(r, self.lang, self.aspects)}],
                                 temperature=0.0, max_tokens=self.max_tokens) for r in records]

    def score_many(self, records: Sequence[Record]) -> list[dict]:
        """One score dict per record: {value, reason, …} or {value: None, error: judge_failed, raw}."""
        records = list(records)
        if not records:
            return []
        if self.client.supports_likelihood:
            return self._score_local(records)
        reqs = self._requests(records)
        first = [c[0].text for c in self.client.chat_many(reqs, desc=stages.JUDGE)]
        out: list[dict | None] = [parse_judgement(t, self.aspects) for t in first]
        bad = [i for i, o in enumerate(out) if o is None]
        if bad:
            fix = repair_prompt(self.lang, self.aspects)
            repairs = [ChatRequest.make(reqs[i].message_dicts() + [{"role": "assistant", "content": first[i]},
                                                                  {"role": "user", "content": fix}],
                                        temperature=0.0, max_tokens=self.max_tokens) for i in bad]
            for i, comps in zip(bad, self.client.chat_many(repairs, desc=stages.JUDGE_REPAIR)):
                text = comps[0].text
                parsed = parse_judgement(text, self.aspects)
                out[i] = ({**parsed, "repaired": True} if parsed is not None
                          else {"value": None, "error": "judge_failed", "raw": text[:300],
                                "first_raw": first[i][:300]})
        model = self.client.model
        return [{**o, "model": model} for o in out]  # type: ignore[dict-item]

    def _score_local(self, records: list[Record]) -> list[dict]:
        """Likelihood of each option after the JSON prefix (one `choose` per aspect)."""
        import math

        keys = ASPECTS if self.aspects else ("score",)
        per_key: dict[str, list] = {}
        chosen: list[dict[str, int]] = [{} for _ in records]
        for k in keys:
            items = []
            for r, got in zip(records, chosen):
                prefix = "{" + "".join(f'"{a}": {got[a]}, ' for a in keys if a in got) + f'"{k}": '
                items.append(([{"role": "user", "content": judge_prompt(r, self.lang, self.aspects)}], prefix))
            per_key[k] = self.client.choose_many(items, list(OPTIONS))
            for got, ch in zip(chosen, per_key[k]):
                got[k] = int(ch.option)
        out = []
        for i, got in enumerate(chosen):
            sc = per_key[keys[-1] if not self.aspects else "output"][i].scores
            total = sum(math.exp(v) for v in sc.values()) or 1.0
            expected = sum(int(o) * math.exp(v) for o, v in sc.items()) / total
            d: dict = {"value": min(got.values()) if self.aspects else got["score"],
                       "method": "likelihood", "expected": round(expected, 4),
                       "model": self.client.model}
            if self.aspects:
                d["aspects"] = dict(got)
            out.append(d)
        return out
