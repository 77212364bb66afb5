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
from ..text import CJK_RE, LANGS, cjk_ratio, length_units
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


def record_lang(record: Record, default: str) -> str:
    """The language a record declares in `meta.lang` (Self-QA under --lang auto asks each
    document in its own), else the run's."""
    lang = record.meta.get("lang") if isinstance(record.meta, dict) else None
    return lang if lang in LANGS else default


class AsciiStart(Filter):
    """Alpaca drops instructions that do not start with an ASCII character (English only)."""

    name = "ascii_start"

    def check(self, record: Record) -> str | None:
        if record_lang(record, "en") != "en":  # a Chinese document's pair in a mixed run
            return None
        text = record.instruction.lstrip()
        return "non_ascii_start" if text and not text[0].isascii() else None


class WriteProgram(Filter):
    """Self-Instruct drops "Write a program ..." tasks: the model cannot run the result."""

    name = "write_program"
    _re = re.compile(r"^\s*write a program\b|^\s*(请)?编写一个程序", re.I)

    def check(self, record: Record) -> str | None:
        return "write_program" if self._re.search(record.instruction) else None


LATIN_WORD_RE = re.compile(r"[A-Za-z]{2,}")
_CODE_RE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
# a task about the other language may have it in its input or answer (a translation)
_NAMES_OTHER = {"zh": re.compile(r"英文|英语|英译|English", re.I), "en": re.compile(r"Chinese|Mandarin|中文|汉语")}


def generated_texts(record: Record) -> list[tuple[str, str]]:
    """(field, text) of every generated field: instruction, input, output and each user or
    assistant turn (a system prompt is the user's, not the model's)."""
    out = [("instruction", record.instruction), ("input", record.input), ("output", record.output)]
    for i, m in enumerate(record.messages or []):
        if m.get("role") in ("user", "assistant"):
            out.append((f"messages[{i}]", m.get("content") or ""))
    return [(f, t) for f, t in out if t and t.strip()]


class LangConsistency(Filter):
    """Drops a record with a field in the other language than the run's (an English
    answer in a Chinese run): the instruction, the input, the output and every turn.
    Text counts as Chinese when CJK is at least 30% of its characters (code spans left
    out). The instruction is held to that alone; another field is wrong only with some
    substance in the other language (3 Latin words, 3 CJK characters), so "DNA" or "42"
    answers pass, and not when the instruction names that language (a translation)."""

    name = "lang_consistency"

    def __init__(self, lang: str):
        self.lang = lang
        self.last_detail: dict = {}

    def wrong(self, text: str, strict: bool = True, lang: str | None = None) -> bool:
        """Is `text` in the other language than `lang` (default: the run's)?"""
        prose = _CODE_RE.sub(" ", text)
        ratio = cjk_ratio(prose)
        if (lang or self.lang) == "zh":
            return ratio < 0.3 and (strict or len(LATIN_WORD_RE.findall(prose)) >= 3)
        return ratio >= 0.3 and (strict or len(CJK_RE.findall(prose)) >= 3)

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        lang = record_lang(record, self.lang)  # a record made in its document's language says so
        other_ok = bool(_NAMES_OTHER[lang].search(record.instruction))
        for fld, text in generated_texts(record):
            if text == record.instruction:  # the instruction, or the first turn that carries it
                if self.wrong(text, lang=lang):
                    return "wrong_lang"
            elif not other_ok and self.wrong(text, strict=False, lang=lang):
                self.last_detail = {"field": fld}
                return "wrong_lang"
        return None


class TrailingComma(Filter):
    """Drops an instruction that ends mid-sentence, on a comma or an enumeration mark
    ("请写一首诗，"): the model stopped before the task was said."""

    name = reason = "trailing_comma"
    MARKS = tuple(",，、;；")

    def check(self, record: Record) -> str | None:
        return self.reason if record.instruction.rstrip().endswith(self.MARKS) else None


class InputEqualsInstruction(Filter):
    """Drops a record whose input only repeats its instruction: no instance at all."""

    name = reason = "input_equals_instruction"

    def check(self, record: Record) -> str | None:
        norm = lambda t: " ".join(t.split()).strip().rstrip(".。!！?？").lower()  # noqa: E731
        return self.reason if record.input.strip() and norm(record.input) == norm(record.instruction) else None


class PromptScaffolding(Filter):
    """Drops a record whose generated text carries the frame of our own prompts: a slot
    label starting a line ("Input:", "User:", "输入：") or a prompt's cue ("Your next
    message:"), in any field or turn. The labels are read from prompts/<lang>/ (both
    languages: a Chinese run's model may still echo an English frame)."""

    name = reason = "prompt_scaffolding"

    def __init__(self, langs=LANGS):
        from ..prompts import scaffolding

        labels, cues = set(), set()
        for lang in langs:
            lab, cue = scaffolding(lang)
            labels.update(lab)
            cues.update(cue)
        alt = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
        self.label_re = re.compile(rf"(?m)^[ \t>*_-]*({alt})[ \t*_]*[:：]") if labels else None
        alt = "|".join(re.escape(x) for x in sorted(cues, key=len, reverse=True))
        self.cue_re = re.compile(rf"({alt})[ \t]*[:：]", re.I) if cues else None
        self.last_detail: dict = {}

    def check(self, record: Record) -> str | None:
        self.last_detail = {}
        for fld, text in generated_texts(record):
            m = (self.label_re and self.label_re.search(text)) or (self.cue_re and self.cue_re.search(text))
            if m:
                self.last_detail = {"field": fld, "scaffolding": m.group(0).strip()}
                return self.reason
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
