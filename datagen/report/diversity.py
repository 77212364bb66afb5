"""Diversity: leading verbs and verb–object pairs (the paper's Fig. 2), distinct-n.

The paper parsed instructions with the Berkeley parser. We do not ship a parser model,
so English uses a light rule (the imperative verb is the first word after an optional
"Given ..., " clause; its object is the next content word), and Chinese uses jieba's
bundled part-of-speech dictionary. Good enough to see whether a dataset is all
"write a story" or spread over many kinds of task.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

from ..text import detect_lang

WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*")
# Openers that are not imperative verbs: questions, pronouns, articles.
NOT_VERBS = set("""
what how why who whom whose which when where whether is are was were am be do does did
can could would should will shall may might must has have had i you we he she it they my
your our their this that these those there here the a an if in on for to of as at by with
from given using based suppose assuming after before while once now then so and or but not
""".split())
CLAUSE_OPENERS = {"given", "if", "for", "in", "using", "based", "when", "after", "suppose",
                  "assuming", "with", "from", "once", "while", "before"}
POLITE = {"please", "kindly", "now", "then", "also", "just"}
SKIP_BEFORE_OBJECT = set("""
a an the this that these those some any each every all my your our their his her its me us
him them it one two three four five six seven eight nine ten few several many more most
following given new short brief simple single good different other own possible top
main key best long detailed creative funny interesting important appropriate suitable
""".split())
# A preposition or question word right after the verb means there is no direct object.
NO_OBJECT = set("""
about of to for with in on from by into between whether if how what why which who when where
that as at out up down over through than
""".split())

ZH_POLITE = {"请", "请你", "帮", "帮我", "帮忙", "我", "你", "能否", "可以", "能", "麻烦", "给我", "试着", "尝试"}
ZH_BA = {"将", "把"}
ZH_CLAUSE_END = re.compile(r"[，。？！；：,.?!;:\n]")


def english_verb_object(text: str) -> tuple[str | None, str | None]:
    """(verb, object) by rule; verb None when the instruction does not open with one."""
    if "," in text:
        head = WORD_RE.findall(text.split(",", 1)[0])
        if head and head[0].lower() in CLAUSE_OPENERS:
            text = text.split(",", 1)[1]
    words = [w.lower() for w in WORD_RE.findall(text)]
    while words and words[0] in POLITE:
        words.pop(0)
    if not words or words[0] in NOT_VERBS:
        return None, None
    verb, obj = words[0], None
    for w in words[1:]:
        if w in NO_OBJECT:
            break
        if w in SKIP_BEFORE_OBJECT:
            continue
        obj = w
        break
    return verb, obj


def _jieba():
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading banner is not ours to print
    return jieba.posseg


def _is_noun(flag: str) -> bool:
    return flag.startswith("n") or flag == "vn"


def chinese_verb_object(text: str, posseg=None) -> tuple[str | None, str | None]:
    """(verb, object) from jieba's POS tags: the first verb (after 请/帮我 …), and the head
    noun of its object — the noun after 的 when there is one ("关于春天的诗" -> 诗)."""
    posseg = posseg or _jieba()
    # only the first clause matters; HMM (new-word discovery) would be 80% of the time
    head = ZH_CLAUSE_END.split(text.strip(), 1)[0][:40]
    toks = [(w.word, w.flag) for w in posseg.cut(head, HMM=False) if w.word.strip()]
    clause = []
    for w, f in toks:
        if f == "x":  # punctuation ends the first clause
            if clause:
                break
            continue
        clause.append((w, f))
    while clause and clause[0][0] in ZH_POLITE:
        clause.pop(0)
    if not clause:
        return None, None
    if clause[0][0] in ZH_BA:  # 将以下句子翻译成英文: the verb follows the object
        nouns = [i for i, (_, f) in enumerate(clause) if _is_noun(f)]
        if not nouns:
            return None, None
        i = nouns[0]
        verb = next((w for w, f in clause[i + 1:] if f.startswith("v") or f == "l"), None)
        return verb, clause[i][0]
    if not clause[0][1].startswith("v"):
        return None, None
    verb, rest = clause[0][0], clause[1:]
    obj = None
    for i, (w, f) in enumerate(rest):
        if _is_noun(f):
            obj = obj or w
        if w == "的" and obj is not None:
            after = next((x for x, g in rest[i + 1:] if _is_noun(g)), None)
            if after:
                return verb, after
    return verb, obj


def verb_objects(instructions: list[str], lang: str | None = None,
                 progress: bool = False) -> list[tuple[str | None, str | None]]:
    """(verb, object) for each instruction, by its own language when `lang` is None."""
    from tqdm import tqdm

    posseg = None
    out = []
    for text in tqdm(instructions, desc="verbs", unit="instr", disable=None if progress else True, leave=False):
        if (lang or detect_lang(text)) == "zh":
            posseg = posseg or _jieba()
            out.append(chinese_verb_object(text, posseg))
        else:
            out.append(english_verb_object(text))
    return out


def leading_words(instructions: Iterable[str]) -> Counter:
    """First word (English) or first two characters (Chinese) of each instruction:
    shows how many start the same way, verbs or not."""
    c: Counter[str] = Counter()
    for t in instructions:
        t = t.strip()
        if not t:
            continue
        if detect_lang(t) == "zh":
            c[t[:2]] += 1
        else:
            w = WORD_RE.findall(t)
            c[w[0].lower() if w else t.split()[0]] += 1
    return c


def verb_stats(instructions: list[str], top: int = 20, lang: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    pairs = verb_objects(instructions, lang, progress)
    verbs = Counter(v for v, _ in pairs if v)
    vo = Counter(f"{v} {o}" for v, o in pairs if v and o)
    objects: dict[str, Counter] = {}
    for v, o in pairs:
        if v and o:
            objects.setdefault(v, Counter())[o] += 1
    return {
        "instructions": len(instructions),
        "with_verb": sum(1 for v, _ in pairs if v),
        "distinct_verbs": len(verbs),
        "verbs": verbs.most_common(top),
        "verb_objects": vo.most_common(top),
        # the paper's Fig. 2: each top verb with its top 4 direct objects
        "objects_of_top_verbs": [[v, n, objects.get(v, Counter()).most_common(4)] for v, n in verbs.most_common(top)],
        "leading_words": leading_words(instructions).most_common(top),
    }


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams over the texts, with the
    ROUGE filter's tokens (lower-cased words; one token per CJK character)."""
    from ..filters.rouge import tokenize

    total, seen = 0, set()
    for t in texts:
        toks = tokenize(t)
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 4) if total else None


def distinct_stats(instructions: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "instruction": {"distinct_1": distinct_n(instructions, 1), "distinct_2": distinct_n(instructions, 2)},
        "output": {"distinct_1": distinct_n(outputs, 1), "distinct_2": distinct_n(outputs, 2)},
    }
