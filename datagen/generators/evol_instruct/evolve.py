"""Evol-Instruct's pure pieces: the evolution prompts, parsing the rewritten prompt, and
WizardLM's elimination rules (Xu et al. 2023, section 3.3), each a function of strings.

An evolution step fails, and is dropped with a reason, when
- the rewritten prompt copies the template's words ("#Rewritten Prompt#", "given
  prompt", "改写后的提示" ...): `copies_template`;
- it gives no information gain over its parent (a fixed-choice Equal / Different call,
  prompt `evol_equal`): `no_information_gain`;
- its answer is a short apology or refusal ("sorry" in under 80 words): `answer_refusal`;
- its answer is only punctuation and stop words: `answer_only_punctuation`.
"""

from __future__ import annotations

import re
import string

from ...prompts import load_prompt
from ...text import length_units

# in-depth methods, then in-breadth; each is a prompt file prompts/<lang>/evol_<method>.txt
DEPTH_METHODS = ("add_constraints", "deepen", "concretize", "reasoning", "complicate_input")
BREADTH = "breadth"
METHODS = DEPTH_METHODS + (BREADTH,)
# WizardLM asks "Equal or Not Equal"; a likelihood scorer (the local backend) sums the
# options' token log-probabilities, so a two-token "Not Equal" would lose to "Equal"
# almost always: the options are one token each in English ("相同" vs "不同" leans to keep)
EQUAL_OPTIONS = {"en": ("Equal", "Different"), "zh": ("相同", "不同")}
REFUSAL_MAX_UNITS = 80  # WizardLM: "sorry" in a response of fewer than 80 words


def evolve_prompt(instruction: str, method: str, lang: str) -> list[dict]:
    """The messages asking for one evolution of `instruction` by `method`."""
    if method not in METHODS:
        raise ValueError(f"unknown evolution method {method!r} (choose from {', '.join(METHODS)})")
    text = load_prompt(f"evol_{method}", lang).render(instruction=instruction.strip())
    return [{"role": "user", "content": text}]


def equal_prompt(parent: str, child: str, lang: str) -> list[dict]:
    """The messages of the information-gain check: is `child` equal to `parent`?"""
    text = load_prompt("evol_equal", lang).render(first=parent.strip(), second=child.strip())
    return [{"role": "user", "content": text}]


def template_refs(lang: str) -> dict[str, str]:
    """ref -> sha of every Evol-Instruct template of `lang` (for the manifest)."""
    out = {}
    for name in [f"evol_{m}" for m in METHODS] + ["evol_equal"]:
        p = load_prompt(name, lang)
        out[p.ref] = p.sha
    return out


# ---- parsing -------------------------------------------------------------------------------

_MARKERS = ("Rewritten Prompt", "Created Prompt", "New Prompt", "改写后的提示", "新提示", "创作的提示")
_LEADING = re.compile(r"^\s*(?:\*\*)?#*\s*(?:the\s+)?(?:" + "|".join(map(re.escape, _MARKERS)) +
                      r")\s*#*\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?", re.I)
_QUOTES = "\"'“”‘’`"


def parse_evolved(text: str) -> str:
    """The rewritten prompt from a reply: a leading "#Rewritten Prompt#:" (or "#新提示#：",
    "**Created Prompt:**") is formatting, not content, and is cut; so are quotes around the
    whole prompt. Whatever of the template is left, `copies_template` judges."""
    text = text.strip()
    text = _LEADING.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


# ---- elimination rules -----------------------------------------------------------------------

_TEMPLATE_WORDS = re.compile(
    r"#\s*(?:the\s+)?(?:given|rewritten|created)\s+prompt\s*#|\b(?:given|rewritten|created)\s+prompt\b"
    r"|#\s*给定提示\s*#|给定提示|改写后的提示|#\s*新提示\s*#", re.I)


def copies_template(evolved: str) -> bool:
    """The rewritten prompt speaks of the template ("#Rewritten Prompt#", "given prompt",
    "改写后的提示", "#给定提示#" ...) instead of being a prompt itself."""
    return bool(_TEMPLATE_WORDS.search(evolved))


_REFUSAL = {
    "en": re.compile(r"\bsorry\b|\bapologi[sz]e\b|\bI (?:cannot|can't|can not|am unable to|am not able to)\b"
                     r"|\bas an ai\b", re.I),
    "zh": re.compile(r"抱歉|对不起|很遗憾|我无法|我不能|作为一个?(?:AI|人工智能)", re.I),
}


def is_refusal(answer: str, lang: str = "en") -> bool:
    """A short apology or refusal: "sorry" (or 抱歉, "I cannot" ...) in an answer of fewer
    than 80 words (Chinese: characters). A long answer that says sorry once is kept."""
    if length_units(answer) >= REFUSAL_MAX_UNITS:
        return False
    return bool(_REFUSAL["en"].search(answer) or _REFUSAL["zh"].search(answer))


STOP_WORDS = frozenset("""
a an the and or but if then so of to in on at by for with from as is are was were be been being am do does
did it its this that these those there here i you he she we they me him her us them my your his our their
not no yes ok okay oh ah um uh well just very too also than such what which who whom how why when where
""".split()) | frozenset("的 了 是 在 和 与 或 就 都 也 还 又 而 着 过 吧 呢 吗 啊 呀 哦 嗯 这 那 我 你 他 她 它 们 个 一 不 有 没".split())
_PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·～「」『』")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]")


def only_punctuation(answer: str) -> bool:
    """The answer has no content: only punctuation, whitespace and stop words (an empty
    answer counts too)."""
    cleaned = "".join(" " if c in _PUNCT else c for c in answer.lower())
    words: list[str] = []
    for token in cleaned.split():
        # Chinese has no spaces: judge it character by character
        words.extend(list(token) if _CJK_WORD.search(token) else [token])
    return all(w in STOP_WORDS for w in words)


def answer_reason(answer: str, lang: str = "en") -> str | None:
    """The elimination rule an answer breaks, or None."""
    if only_punctuation(answer):
        return "answer_only_punctuation"
    if is_refusal(answer, lang):
        return "answer_refusal"
    return None
