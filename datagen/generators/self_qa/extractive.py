"""Extractive Self-QA: the answer is one of the chunk's own sentences.

A 135M model cannot be trusted to write a grounded answer, nor, shown a whole chunk, to ask
about it (it wanders off to cookies and sports nutrition). So each question is written from
one sentence (`sentence_question_messages`, three worked examples as chat turns), and that
sentence is the answer: grounded by construction, its offsets (`sentence_spans`, in chunk
coordinates; `document_span` in the document's) recorded in the record's meta. A question
that shares no content word with its sentence (`on_topic`) is dropped.

Measured on the embedded SmolLM2 (docs/self_qa_kg.md): letting the model *pick* the answer
sentence by likelihood (`choose`) was tried and dropped. Calibrated by a content-free
question (Zhao et al. 2021) it found the right sentence for 10 of 15 hand-written questions
(raw log-likelihood: 2), but as a check on its own generated questions it confirmed 2 of 13,
one of them off topic, while rejecting correct pairs; the lexical check keeps the right ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ...io.documents import Chunk
from ...prompts import load_prompt
from ...text import CJK_RE
from .parsing import grounding_units

# Words whose trailing period does not end an English sentence.
ABBREVIATIONS = frozenset("""mr mrs ms dr prof st sr jr vs etc e.g i.e cf al fig figs no nos vol pp ca approx
    dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec mt ft u.s u.k a.m p.m""".split())
_EN_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_ZH_END = re.compile(r"[。！？!?]+[”’」』）)]*|[.;；](?=\s*$)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_LIST_MARK = re.compile(r"^(?:[-*+•]\s+|\d{1,2}[.)、]\s*|>\s*)")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|={3,}|-{3,}\s*$|\|)")


@dataclass(frozen=True)
class Span:
    start: int  # offsets into the chunk's text
    end: int
    text: str


def _is_abbreviation(line: str, end: int) -> bool:
    """Does the period at line[end - 1] close an abbreviation or an initial ("J. K.")?"""
    m = _WORD_BEFORE.search(line[:end])
    if not m:
        return False
    word = m.group(1).lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _line_sentences(line: str) -> list[tuple[int, int]]:
    """Sentence spans in one line of prose (Chinese and English may mix)."""
    spans, start = [], 0
    ends: list[int] = []
    for m in _EN_END.finditer(line):
        nxt = line[m.end():].lstrip()[:1]
        if m.group(0)[0] == "." and (_is_abbreviation(line, m.start() + 1) or nxt.islower()):
            continue  # "e.g. rye", "Dr. Smith", "J. K. Rowling": not an end
        ends.append(m.end())
    ends.extend(m.end() for m in _ZH_END.finditer(line))
    for end in sorted(set(ends)):
        if end > start:
            spans.append((start, end))
            start = end
    spans.append((start, len(line)))
    out = []
    for s, e in spans:
        while s < e and line[s].isspace():
            s += 1
        while e > s and line[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentence_spans(text: str) -> list[Span]:
    """The sentences of `text` as spans (text[start:end] == span.text), in order.

    Lines break sentences (a paragraph never runs on into a heading); Markdown headings,
    rules and table rows are skipped; a list marker is not part of its sentence. English
    ends at . ! ? before a space, but not after a known abbreviation, an initial, or when
    the next word is in lower case; Chinese ends at 。！？ (closing quotes stay with it)."""
    out: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        base, body = pos, line.rstrip("\r\n")
        pos += len(line)
        if not body.strip() or _HEADING.match(body):
            continue
        lead = len(body) - len(body.lstrip())
        mark = _LIST_MARK.match(body[lead:])
        offset = lead + (mark.end() if mark else 0)
        for s, e in _line_sentences(body[offset:]):
            out.append(Span(base + offset + s, base + offset + e, body[offset + s: offset + e]))
    return out


def is_answer_sized(text: str) -> bool:
    """Long enough to answer something: 4+ words, or 8+ characters of Chinese."""
    if CJK_RE.search(text):
        return len(CJK_RE.findall(text)) >= 8
    return len(text.split()) >= 4


def answer_candidates(chunk: Chunk, refers_to_source=None) -> list[Span]:
    """The chunk's sentences that can stand as an answer on their own."""
    return [s for s in sentence_spans(chunk.text)
            if is_answer_sized(s.text) and not (refers_to_source and refers_to_source(s.text))]


def document_span(chunk: Chunk, span: Span) -> list[int]:
    """`span` in document coordinates: doc.text[a:b] == span.text, like meta `chunk`."""
    return [chunk.start + span.start, chunk.start + span.end]


# ---- questions written from one sentence -----------------------------------------------------

def sentence_question_messages(sentence: str, lang: str) -> list[dict]:
    """Few-shot chat turns asking for a question the sentence answers. Asked about a whole
    chunk, the embedded model mostly wanders off topic; asked about one sentence after
    three worked examples, it stays on it."""
    template = load_prompt("self_qa_sentence_question", lang)
    msgs: list[dict] = []
    for line in load_prompt("self_qa_sentence_examples", lang).text.splitlines():
        if "=>" in line:
            example, question = (part.strip() for part in line.split("=>", 1))
            msgs += [{"role": "user", "content": template.render(sentence=example)},
                     {"role": "assistant", "content": question}]
    return msgs + [{"role": "user", "content": template.render(sentence=sentence)}]


def spread(spans: Sequence[Span], n: int) -> list[Span]:
    """`n` spans spaced evenly through the chunk (all of them when there are fewer)."""
    if n >= len(spans):
        return list(spans)
    step = len(spans) / n
    return [spans[int(i * step)] for i in range(n)]


STOPWORDS_EN = frozenset("""what which who whom whose when where why how does do did is are was were be been
    the a an of to in on for with and or but not that this these those it its can could would should will
    about from into than then there their they them you your much many some any more most make makes made
    happen happens happened mean means thing things way ways kind""".split())


def content_units(text: str) -> set[str]:
    """Words (4+ letters, not question words; stemmed by dropping a plural/verb -s) or CJK bigrams."""
    units = set()
    for u in grounding_units(text):
        if u.isascii():
            if len(u) >= 4 and u not in STOPWORDS_EN:
                units.add(u[:-1] if u.endswith("s") and not u.endswith("ss") else u)
        elif len(u) == 2:
            units.add(u)
    return units


def is_question(text: str) -> bool:
    """Ends with a question mark, as every worked example does. The embedded model's Chinese
    is mostly word salad without one (measured on seeds/docs/tea_zh.txt)."""
    return text.rstrip("\"'”’)） ").endswith(("?", "？"))


def on_topic(question: str, sentence: str) -> bool:
    """Does the question share a content word (Chinese: a character pair) with the sentence
    it was written from? The embedded model sometimes answers a sentence about feeding a
    starter with "What happens when you feed your friend something daily?"."""
    return bool(content_units(question) & content_units(sentence))


def rank_questions(questions: Sequence[str], sentence: str, score) -> list[str]:
    """Questions best first: on-topic and not pointing at "the text" before the rest, then by
    `score(question)`, the log-likelihood of `sentence` as the reply to it. On the embedded
    model, keeping the best of 4 sampled questions raised the on-topic share of 19 sourdough
    sentences from 12 (one greedy question each) to 17."""
    from .parsing import refers_to_source

    usable = {q: is_question(q) and on_topic(q, sentence) and not refers_to_source(q) for q in questions}
    scores = {q: score(q) for q in questions if usable[q]} or {q: score(q) for q in questions}
    return sorted(questions, key=lambda q: (not usable[q], -scores.get(q, float("-inf"))))
