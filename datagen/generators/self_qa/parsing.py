"""Self-QA's pure pieces: question and answer prompts, reply parsing, and the checks that
prune self-referential questions and refused, cut-off or ungrounded answers."""

from __future__ import annotations

import hashlib
import re

from ...io.documents import Chunk
from ...prompts import load_prompt
from ...text import CJK_CHAR

# Reference to a source the reader of the trained model will never have.
_SELF_REF_EN = re.compile(
    r"\b(?:the|this|that|these|those|above|following|given|provided|said)\s+"
    r"(?:text|passage|article|document|paragraph|excerpt|context|background|material|"
    r"section|content|snippet|reading)s?\b"
    r"|\b(?:this|these|above)\s+(?:paper|study|report|readme|repository|repo|chapter|page)s?\b"
    r"|\bthe author(?!s?\s+of\b)|\b(?:mentioned|described|stated|discussed|shown)\s+(?:above|earlier)\b"
    r"|\bthe above\b", re.I)
_SELF_REF_ZH = re.compile(
    r"上文|本文|文中|原文|该文|此文|这篇|文章中|文章里|该文章|文章提到|文章所述|本段|这段|该段|段落中"
    r"|材料中|上述|以上内容|根据以上|背景知识|文本中|给定的文本|所给")
_REFUSAL_EN = re.compile(
    r"not answerable|\b(?:does|do|did)\s*(?:not|n't)\s+(?:say|mention|specify|state|provide|contain|"
    r"include|give|describe|discuss)|\bnot\s+(?:mentioned|specified|stated|provided|given|described)\b"
    r"|no information|not enough information|insufficient information|"
    r"\b(?:cannot|can't|can not)\s+be\s+(?:answered|determined)|unable to (?:answer|determine)|"
    r"\bi (?:don't|do not) know\b|^\s*(?:i'm sorry|sorry|as an ai)", re.I)
_REFUSAL_ZH = re.compile(
    r"无法回答|没有提到|未提到|没有提及|未提及|没有说明|未说明|没有给出|未给出|无法确定|无法得知|"
    r"没有相关信息|没有足够的信息|信息不足|^\s*(?:抱歉|对不起)")
# "According to the text, X" -> "X": the fact survives, the reference goes
_LEAD_REF = re.compile(
    r"^\s*(?:(?:according to|based on|as (?:stated|mentioned|described) in|from)\s+the\s+"
    r"(?:given |provided |above )?(?:text|passage|article|document|background(?: knowledge)?|context|information(?: given| provided)?)"
    r"[^,.:]{0,40}[,:]\s*"
    r"|(?:根据|依据|按照|从)(?:上文|本文|文中|原文|背景知识|以上内容|材料|文章)[^，,：:。]{0,20}[，,：:]\s*)",
    re.I)
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}\s*[.)、:：．]|[-*•]|q\d*\s*[:：.]|问题\s*\d*\s*[:：])\s*(.*)$", re.I)
_Q_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:question|q|问题|问)\s*\d*\s*[:：]\s*(?:\*\*)?\s*", re.I)
_A_SPLIT = re.compile(r"\s*(?:\*\*)?(?:answer|a|回答|答案|答)\s*[:：]", re.I)
_ANSWER_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:answer|a|回答|答案|答)\s*[:：]\s*(?:\*\*)?\s*", re.I)
_SENT_END = re.compile(r"[.!?。！？](?=[\s\"'”’)）]|$)")
_UNIT = re.compile(rf"[a-z0-9]+|[{CJK_CHAR}]+")


def question_messages(chunk: Chunk, n: int, lang: str) -> list[dict]:
    return [{"role": "user", "content": load_prompt("self_qa_questions", lang).render(chunk=chunk.text, n=n)}]


def answer_messages(chunk: Chunk, question: str, lang: str) -> list[dict]:
    return [{"role": "user", "content": load_prompt("self_qa_answer", lang).render(chunk=chunk.text,
                                                                                  question=question)}]


def parse_questions(text: str, cut_off: bool = False) -> list[str]:
    """Questions from a numbered (or bulleted) list; unnumbered lines continue the item
    before them. With `cut_off`, the last item may be truncated and is dropped."""
    items: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _NUMBERED.match(line)
        if m:
            items.append(m.group(1))
        elif items:
            items[-1] += " " + line.strip()
        else:
            items.append(line)
    if cut_off and items:
        items.pop()
    out: list[str] = []
    for item in items:
        q = _Q_PREFIX.sub("", item.strip())
        q = _A_SPLIT.split(q, maxsplit=1)[0]  # a model that answers inline: keep the question
        q = " ".join(q.strip().strip("*").split())
        if q and q not in out:
            out.append(q)
    return out


def refers_to_source(text: str) -> bool:
    """Does the text point at a source document ("the passage", "上文") the reader lacks?"""
    return bool(_SELF_REF_EN.search(text) or _SELF_REF_ZH.search(text))


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL_EN.search(text) or _REFUSAL_ZH.search(text))


def clean_answer(text: str, cut_off: bool = False) -> tuple[str, str | None]:
    """(answer, drop reason or None): prefixes and a leading "According to the text,"
    removed; a cut-off answer trimmed to its last full sentence when most of it survives."""
    text = _ANSWER_PREFIX.sub("", text.strip()).strip()
    stripped = _LEAD_REF.sub("", text, count=1)
    if stripped != text and stripped:
        text = stripped[0].upper() + stripped[1:]
    if cut_off:
        ends = [m.end() for m in _SENT_END.finditer(text)]
        if not ends or ends[-1] < 0.4 * len(text):
            return text, "answer_cut_off"
        text = text[: ends[-1]]
    if not text:
        return text, "empty_answer"
    if is_refusal(text):
        return text, "answer_refusal"
    if refers_to_source(text):
        return text, "answer_refers_to_text"
    return text, None


def grounding_units(text: str) -> list[str]:
    """Words for alphabetic text, character bigrams for CJK (single characters say little)."""
    units: list[str] = []
    for tok in _UNIT.findall(text.lower()):
        if tok[0].isascii():
            units.append(tok)
        elif len(tok) == 1:
            units.append(tok)
        else:
            units.extend(tok[i:i + 2] for i in range(len(tok) - 1))
    return units


def grounding_score(answer: str, chunk: str) -> float:
    """Share of the answer's units (words / CJK bigrams) that occur in the chunk: an answer
    built from the chunk scores near 1, one from the model's own memory much lower."""
    units = grounding_units(answer)
    if not units:
        return 0.0
    have = set(grounding_units(chunk))
    return sum(u in have for u in units) / len(units)


def stable_seed(*parts) -> int:
    """A request seed fixed by content, so a re-run asks identical requests (cache hits)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


