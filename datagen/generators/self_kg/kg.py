"""Self-KG's pure pieces: group triples by head entity, render facts and templates,
parse QA replies, verify that an answer names every tail."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from ...io.triples import Triple
from ...errors import DataError
from ...text import CJK_CHAR, CJK_RE


@dataclass
class FactGroup:
    head: str
    triples: list[Triple]

    @property
    def tails(self) -> list[str]:
        return [t.tail for t in self.triples]


# ---- grouping ---------------------------------------------------------------------------

def group_by_head(triples: Sequence[Triple], max_facts: int = 3, seed: int = 0,
                  by_relation: bool = False, max_tails: int = 8) -> list[FactGroup]:
    """Facts grouped by head entity: each group holds 1..max_facts relations of one head
    (sizes drawn with `seed`), each relation with all its tails, so a list ("symptoms",
    "moons") is asked about whole, never split over two near-identical questions. Lists
    longer than `max_tails` are cut, since an answer must name every tail. With
    `by_relation`, one group per (head, relation) — what the template mode asks about."""
    if max_facts < 1 or max_tails < 1:
        raise ValueError("max_facts and max_tails must be at least 1")
    by_head: dict[str, dict[str, list[Triple]]] = {}
    for t in triples:
        by_head.setdefault(t.head, {}).setdefault(t.relation, []).append(t)
    rng = random.Random(seed)
    groups: list[FactGroup] = []
    for head, rels in by_head.items():
        blocks = [ts[i:i + max_tails] for ts in rels.values() for i in range(0, len(ts), max_tails)]
        if by_relation:
            groups.extend(FactGroup(head, b) for b in blocks)
            continue
        i = 0
        while i < len(blocks):
            n = rng.randint(1, max_facts)
            groups.append(FactGroup(head, [t for b in blocks[i:i + n] for t in b]))
            i += n
    return groups


# ---- rendering --------------------------------------------------------------------------

def join_items(items: Sequence[str], lang: str) -> str:
    """"a, b and c" / "a、b和c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if lang == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def relation_words(relation: str) -> str:
    """'place_of_birth' / 'placeOfBirth' -> 'place of birth'."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", relation).replace("_", " ").replace("-", " ")
    return " ".join(text.split()).lower() if not CJK_RE.search(text) else text


def format_facts(group: FactGroup) -> str:
    """The facts as the prompt lists them: one "head | relation | tail" a line."""
    return "\n".join(f"- {t.head} | {relation_words(t.relation)} | {t.tail}" for t in group.triples)


def parse_templates(text: str) -> dict[str, tuple[str, str]]:
    """Relation templates, one a line: `relation | question | answer` with {head},
    {relation}, {tails} and {be} placeholders; `*` is the fallback; '#' starts a comment."""
    out: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not all(parts):
            raise DataError("templates", n, "expected 'relation | question | answer'")
        out[relation_words(parts[0]) if parts[0] != "*" else "*"] = (parts[1], parts[2])
    if "*" not in out:
        raise DataError("templates", None, "no fallback template ('* | question | answer')")
    return out


def template_qa(group: FactGroup, templates: dict[str, tuple[str, str]], lang: str) -> tuple[str, str]:
    """Question and answer for a one-relation group from the relation's template."""
    rel = relation_words(group.triples[0].relation)
    q, a = templates.get(rel) or templates["*"]
    fields = {"head": group.head, "relation": rel, "tails": join_items(group.tails, lang),
              "be": "are" if len(group.tails) > 1 else "is"}
    return q.format(**fields), a.format(**fields)


# ---- parsing and verification -----------------------------------------------------------

_Q = r"(?:question|q|问题|问)"
_A = r"(?:answer|a|回答|答案|答)"
_QA_RE = re.compile(rf"^\W*{_Q}\s*[:：]\s*(?P<q>.+?)\s*^\W*{_A}\s*[:：]\s*(?P<a>.+)$",
                    re.I | re.S | re.M)


def parse_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) from "Question: …\\nAnswer: …" (or 问题：/回答：); None when absent."""
    m = _QA_RE.search(text.strip())
    if not m:
        return None
    q = m.group("q").strip().strip("*").strip()
    # a model that goes on to write a second pair: keep the first answer only
    a = re.split(rf"\n\s*\W*{_Q}\s*[:：]", m.group("a"), maxsplit=1, flags=re.I)[0].strip().strip("*").strip()
    return (q, a) if q and a else None


def normalize(text: str) -> str:
    """Casefolded NFKC with punctuation and spacing removed, for fuzzy mention checks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if c.isalnum())


_TOKEN_RE = re.compile(rf"[{CJK_CHAR}]|[^\W{CJK_CHAR}]+")


def mention_tokens(text: str) -> list[str]:
    """Casefolded NFKC tokens: runs of letters and digits, and each CJK character alone
    (Chinese has no spaces: a character is its own token)."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold().replace("_", " "))


def _plural(a: str, t: str) -> bool:
    return a in (t + "s", t + "es") and t.isalpha() and t.isascii()


def _mentions(answer: list[str], tail: list[str]) -> bool:
    """Is `tail` a run of whole tokens of `answer`? The last word may take a plural."""
    n = len(tail)
    for i in range(len(answer) - n + 1):
        if answer[i:i + n - 1] == tail[:-1] and (answer[i + n - 1] == tail[-1] or _plural(answer[i + n - 1], tail[-1])):
            return True
    return False


def missing_tails(answer: str, tails: Iterable[str], fuzzy: int = 90) -> list[str]:
    """Tails the answer does not mention. A mention is the tail's tokens as whole tokens of
    the answer, in order: "O" is not in "Oxygen", nor "8" in "1998", while "头痛" is in
    "头痛和畏光". A tail of 6+ characters may also match with rapidfuzz partial_ratio >=
    `fuzzy` (when < 100), which forgives a changed hyphen or inflection."""
    tokens = mention_tokens(answer)
    norm_answer = normalize(answer)
    missing = []
    for tail in tails:
        t = mention_tokens(tail)
        if not t or _mentions(tokens, t):
            continue
        if fuzzy < 100 and len(normalize(tail)) >= 6:
            from rapidfuzz import fuzz

            if fuzz.partial_ratio(normalize(tail), norm_answer) >= fuzzy:
                continue
        missing.append(tail)
    return missing
