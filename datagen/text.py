"""Language helpers shared by generators, filters and reports."""

from __future__ import annotations

import re
from typing import Iterable

# Han (incl. extensions A and compatibility), Kana, Hangul: one token per character.
# the languages datagen writes prompts, rules and reports in: declared here, once
LANGS = ("en", "zh")
LANG_CHOICES = ("auto",) + LANGS  # a flag's choices: auto = detected from the inputs

CJK_CHAR = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
CJK_RE = re.compile(f"[{CJK_CHAR}]")
_SPACE_RE = re.compile(r"\s")


def cjk_ratio(text: str) -> float:
    """Share of non-space characters that are CJK."""
    chars = len(text) - len(_SPACE_RE.findall(text))
    if not chars:
        return 0.0
    return len(CJK_RE.findall(text)) / chars  # the regex engine counts: no Python loop per character


def detect_lang(texts: Iterable[str] | str) -> str:
    """'zh' when CJK dominates the text(s), else 'en'."""
    if isinstance(texts, str):
        texts = [texts]
    joined = "".join(texts)
    return "zh" if cjk_ratio(joined) >= 0.3 else "en"


def length_units(text: str) -> int:
    """Length in words for alphabetic text, in characters for Chinese text.

    Mixed text counts each CJK character plus each whitespace-separated non-CJK word."""
    cjk = len(CJK_RE.findall(text))
    rest = CJK_RE.sub(" ", text).split()
    return cjk + len(rest)
