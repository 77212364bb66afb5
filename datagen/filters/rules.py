"""Rule filters: each answers one question about one record and returns a drop reason.

Instruction rules follow Self-Instruct / Alpaca (length 3..150 words, blacklist of words a
text-only model cannot act on, no leading punctuation, no "Write a program"), made
language-aware: Chinese length is counted in characters, Chinese punctuation counts as
punctuation, and a Chinese blacklist applies to Chinese runs. Instance rules follow
Self-Instruct's prepare_for_finetuning (empty output, input == output, a trailing colon
that marks a cut-off generation, and identical inputs with different outputs); on a
multi-turn record they check every assistant turn, since every one is trained on.
"""

from __future__ import annotations

import re
import string
from typing import Iterable, Sequence

from ..records import Record
from ..text import CJK_RE, cjk_ratio, length_units
from .base import Filter

# Chinese counterparts of the default English blacklist; used when lang is "zh".
ZH_BLACKLIST = ["图片", "图像", "照片", "图表", "流程图", "示意图", "地图", "视频", "音频", "音乐",
                "绘制", "画出", "画一", "文件", "网址", "链接"]
PUNCT = set(string.punctuation) | set("，。、；：？！“”‘’（）《》【】…—·「」『』〈〉～")


class MinLength(Filter):
    name = "min_length"

    def __init__(self, n: int):
        self.n = n

    def check(self, record: Record) -> str | None:
        return "too_short" if length_units(record.instruction) <= self.n else None


class MaxLength(Filter):
    name = "max_length"

    def __init__(self, n: int):
        self.n = n

    def check(self, record: Record) -> str | None:
        return "too_long" if length_units(record.instruction) > self.n else None


class Blacklist(Filter):
    """Drops instructions naming things a text model cannot see or produce.

    Latin words match as whole words, case-insensitively (as Self-Instruct's
    find_word_in_string); CJK words match as substrings, since Chinese has no spaces."""

    name = "blacklist"

    def __init__(self, words: Iterable[str]):
        self.words = [w for w in words if w.strip()]
        latin = [w for w in self.words if not CJK_RE.search(w)]
        self.cjk = [w for w in self.words if CJK_RE.search(w)]
        self.latin_re = (re.compile(r"\b(" + "|".join(re.escape(w) for w in latin) + r")\b", re.I)
                         if latin else None)
        self.last_detail: dict = {}

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        text = record.instruction
        hit = None
        if self.latin_re is not None:
            m = self.latin_re.search(text)
            hit = m.group(1) if m else None
        if hit is None:
            hit = next((w for w in self.cjk if w in text), None)
        if hit is None:
            return None
        self.last_detail = {"blacklisted": hit}
        return "blacklist"


class PunctStart(Filter):
    """Drops instructions that open with punctuation (a fragment, a list remnant). An
    opening quote or bracket starts a legitimate one: `"Hamlet" was written by whom?`,
    `“熊猫”是哪个国家的国宝？`, `《红楼梦》的作者是谁？`."""

    name = "punct_start"
    OPENERS = frozenset("\"'`([{<“‘（［｛《〈【「『〔")

    def check(self, record: Record) -> str | None:
        text = record.instruction.lstrip()
        return "punct_start" if text and text[0] in PUNCT and text[0] not in self.OPENERS else None


class AsciiStart(Filter):
    """Alpaca drops instructions that do not start with an ASCII character (English only)."""

    name = "ascii_start"

    def check(self, record: Record) -> str | None:
        text = record.instruction.lstrip()
        return "non_ascii_start" if text and not text[0].isascii() else None


class WriteProgram(Filter):
    """Self-Instruct drops "Write a program ..." tasks: the model cannot run the result."""

    name = "write_program"
    _re = re.compile(r"^\s*write a program\b|^\s*(请)?编写一个程序", re.I)

    def check(self, record: Record) -> str | None:
        return "write_program" if self._re.search(record.instruction) else None


class LangConsistency(Filter):
    """Drops instructions in the other language than the run's (e.g. English in a
    Chinese run). Mixed text counts as Chinese when CJK is at least 30% of its chars."""

    name = "lang_consistency"

    def __init__(self, lang: str):
        self.lang = lang

    def check(self, record: Record) -> str | None:
        ratio = cjk_ratio(record.instruction)
        if self.lang == "zh" and ratio < 0.3:
            return "wrong_lang"
        if self.lang == "en" and ratio >= 0.3:
            return "wrong_lang"
        return None


# ---- instance rules -------------------------------------------------------------------
# Every assistant turn of a conversation is trained on, so the instance rules check each
# one, not only the answer the flat `output` field mirrors; a drop's detail names the turn.

def exchanges(record: Record) -> list[tuple[int, str, str]]:
    """(turn, user text, answer) for each assistant turn of `record.messages`; a record
    without an answered conversation is one exchange: (1, its input, its output)."""
    if record.messages and any(m.get("role") == "assistant" for m in record.messages):
        out: list[tuple[int, str, str]] = []
        pending: list[str] = []
        for m in record.messages:
            if m.get("role") == "user":
                pending.append(m.get("content") or "")
            elif m.get("role") == "assistant":
                out.append((len(out) + 1, "\n".join(pending), m.get("content") or ""))
                pending = []
        return out
    return [(1, record.input, record.output)]


class _TurnRule(Filter):
    """An instance rule applied to every exchange; `bad(record, turn, user, answer)` says
    whether one exchange fails it."""

    name: str
    reason: str  # the drop reason, also the filter name

    def __init__(self):
        self.last_detail: dict = {}

    def bad(self, record: Record, turn: int, user: str, answer: str) -> bool:
        raise NotImplementedError

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        for turn, user, answer in exchanges(record):
            if self.bad(record, turn, user, answer):
                if record.messages:
                    self.last_detail = {"turn": turn}
                return self.reason
        return None


class EmptyOutput(_TurnRule):
    name = reason = "empty_output"

    def bad(self, record, turn, user, answer) -> bool:
        return not answer.strip()


class InputEqualsOutput(_TurnRule):
    """The answer repeats the instance input (first turn) or the user turn it answers."""

    name = reason = "input_equals_output"

    def bad(self, record, turn, user, answer) -> bool:
        echoes = {user.strip()} | ({record.input.strip()} if turn == 1 else set())
        return bool(answer.strip()) and answer.strip() in echoes - {""}


class EndsWithColon(_TurnRule):
    """An input or an answer ending with a colon is usually a cut-off generation."""

    name = reason = "ends_with_colon"

    def bad(self, record, turn, user, answer) -> bool:
        texts = (record.input, answer) if turn == 1 else (answer,)
        return any(t.strip().endswith((":", "：")) for t in texts)


class ExactDuplicate(Filter):
    """Drops a record whose (instruction, input, output) was already kept."""

    name = "exact_duplicate"
    stateful = True

    def __init__(self):
        self.seen: set[tuple[str, str, str]] = set()

    @staticmethod
    def _key(record: Record) -> tuple:
        # a conversation is its whole exchange: two that share a first answer differ later
        turns = tuple(a.strip() for _, _, a in exchanges(record)) if record.messages else ()
        return (record.instruction.strip(), record.input.strip(), record.output.strip(), turns)

    def check(self, record: Record) -> str | None:
        return "duplicate_instance" if self._key(record) in self.seen else None

    def add(self, record: Record) -> None:
        self.seen.add(self._key(record))


def conflicting_instances(records: Sequence[Record]) -> list[str | None]:
    """Reasons for the instances of one task: when two instances share a non-empty input
    but differ in output, the task is ambiguous and every instance gets
    "conflicting_instances" (Self-Instruct drops the whole task); otherwise repeats of an
    earlier (input, output) get "duplicate_instance"; the rest None."""
    outputs: dict[str, set[str]] = {}
    for r in records:
        if r.input.strip():
            outputs.setdefault(r.input.strip(), set()).add(r.output.strip())
    if any(len(v) > 1 for v in outputs.values()):
        return ["conflicting_instances"] * len(records)
    seen: set[tuple[str, str]] = set()
    reasons: list[str | None] = []
    for r in records:
        key = (r.input.strip(), r.output.strip())
        reasons.append("duplicate_instance" if key in seen else None)
        seen.add(key)
    return reasons
