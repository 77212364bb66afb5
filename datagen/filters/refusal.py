"""Refusals: an output that opens with an apology or an AI disclaimer instead of an answer.

Chat models asked for an instance often answer "I'm sorry, but as an AI language model I
cannot…" — a record that teaches the fine-tuned model to refuse. The rule looks at the
start of each assistant turn only (a refusal buried in the middle of a long answer is
usually a caveat, not a refusal), in English and Chinese.
"""

from __future__ import annotations

import re

from ..records import Record
from .base import Filter

# How far into a turn a disclaimer may start ("Well, as an AI language model, …").
HEAD_CHARS = 80

_EN = [
    r"as an? (ai|artificial intelligence)( language)? (model|assistant|chatbot|program|system)\b",
    r"as an ai\s*,",
    r"as an? (language model|chatbot|virtual assistant|ai assistant|large language model)\b",
    r"i('| a)m (sorry|afraid)\b.{0,60}\b(can('|no)?t|cannot|unable|not able|as an? (ai|chatbot|language model))",
    r"i('| a)m (sorry|afraid),? (but )?i (can('|no)?t|cannot|am unable|won't|will not|do not|don't)\b",
    r"i('| a)m sorry for (any|the) confusion,? but\b",
    r"(sorry|apologies|i apologi[sz]e),? (but )?(i|as an?)\b.{0,40}\b(can('|no)?t|cannot|unable|ai|chatbot|model)",
    r"i (can('|no)?t|cannot|am unable to|am not able to) (help|assist|provide|fulfil+|comply|answer|do|create|generate)\b(?! but)",
    r"i('| a)m (just )?an? (ai|language model|chatbot|text-based (ai|model))\b",
    r"i do not have (the ability|access|personal|real-time)\b",
]
_ZH = [
    r"作为(一个|一名|一款)?(人工智能|AI|ai)(语言模型|模型|助手|程序)?",
    r"作为(一个|一名|一款)?(语言模型|聊天机器人|虚拟助手|AI助手|大语言模型)",
    r"(很|非常)?(抱歉|对不起)[，,。！!]?\s*(但是?|不过)?\s*(我)?(无法|不能|没有办法|不可以|作为)",
    r"(很|非常)?(抱歉|对不起)[，,]?\s*(给您)?(造成)?(的)?(任何)?(困惑|混淆|误解)",
    r"我(只是|是)(一个|一名)?(人工智能|AI|语言模型|聊天机器人)",
    r"我(无法|不能)(回答|提供|完成|帮助|协助|满足)",
]
EN_RE = re.compile("|".join(f"(?:{p})" for p in _EN), re.I)
ZH_RE = re.compile("|".join(f"(?:{p})" for p in _ZH))


def refusal_match(text: str) -> str | None:
    """The refusal phrase at the start of `text`, or None."""
    head = text.strip().replace("’", "'")[:HEAD_CHARS]
    for rx in (EN_RE, ZH_RE):
        m = rx.search(head)
        # an opening disclaimer: at the very start, or after a short lead-in ("Well, ")
        if m and m.start() <= 12:
            return m.group(0)
    return None


def assistant_turns(record: Record) -> list[str]:
    """Every assistant turn of a conversation, or the output of a single-turn record."""
    if record.messages:
        turns = [m.get("content") or "" for m in record.messages if m.get("role") == "assistant"]
        if turns:
            return turns
    return [record.output]


class Refusal(Filter):
    """Drops a record any of whose assistant turns opens with a refusal or AI disclaimer."""

    name = "refusal"

    def __init__(self):
        self.last_detail: dict = {}

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        for turn, text in enumerate(assistant_turns(record)):
            hit = refusal_match(text)
            if hit:
                self.last_detail = {"refusal": hit, "turn": turn}
                return "refusal"
        return None
