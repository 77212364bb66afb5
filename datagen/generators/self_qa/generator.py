"""Self-QA (Zhang & Yang 2023): instruction data from documents, without seed tasks.

1. Documents are split into chunks (datagen.io.documents).
2. Knowledge-guided instruction generation: per chunk the model writes questions
   answerable from the chunk alone, phrased for a reader who never sees it.
3. Reading comprehension: each question is answered with its chunk as context.
4. Pruning: self-referential questions, refusals, cut-off and ungrounded answers are
   dropped here; the shared chain then applies length rules and deduplication.
Every kept record carries its provenance (document, chunk offsets) in `meta`.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from typing import Iterator

from ...io.documents import Chunk, chunk_documents, prose_ratio, read_documents
from ...errors import ConfigError, DataError
from ...filters.base import FilterChain, Verdict
from ...llm.base import ChatClient, ChatRequest
from ...prompts import load_prompt
from ...records import Record
from ...text import CJK_CHAR, detect_lang
from ..base import Generator, GeneratorConfig, Outcome
from ..blocks import BlockResult, run_alone, split

FILTER = "self_qa"

# ---- pure pieces: prompts, parsing, checks -----------------------------------------------

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


# ---- the generator ---------------------------------------------------------------------

@dataclass
class SelfQAConfig(GeneratorConfig):
    """Self-QA settings (YAML `generator:` section; flags override)."""

    docs: str = field(default="", metadata={
        "help": "A document or a folder of them (.txt .md .jsonl .json .csv .tsv), read recursively."})
    text_field: str = field(default="text", metadata={"help": "Text field of JSONL documents."})
    chunk_chars: int = field(default=1000, metadata={"help": "Max characters per chunk.", "min": 100})
    overlap: int = field(default=150, metadata={"help": "Characters shared by neighbouring chunks.", "min": 0})
    min_chunk_chars: int = field(default=80, metadata={
        "help": "Skip shorter chunks (a lone heading, a link).", "min": 0})
    min_prose: float = field(default=0.5, metadata={
        "help": "Skip chunks that are mostly symbols (tables of pipes, HTML): min share of prose.",
        "min": 0, "max": 1})
    questions_per_chunk: int = field(default=5, metadata={"help": "Questions asked per chunk.", "min": 1,
                                                          "flag": "--questions"})
    grounding: float = field(default=0.5, metadata={
        "help": "Drop answers whose share of words (Chinese: character pairs) found in the chunk is below this.",
        "min": 0, "max": 1})
    grounding_embed: float | None = field(default=None, metadata={
        "help": "Also drop answers whose embedding cosine with the chunk is below this.", "min": 0, "max": 1})
    embed_model: str | None = field(default=None, metadata={
        "help": "Encoder for --grounding-embed (default: embedded MiniLM).", "flag": "--grounding-embed-model"})
    question_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature for questions.",
                                                               "min": 0})
    answer_temperature: float = field(default=0.3, metadata={"help": "Sampling temperature for answers.",
                                                             "min": 0})
    max_tokens: int = field(default=384, metadata={"help": "Max tokens per model reply.", "min": 1})
    batch: int = field(default=8, metadata={"help": "Chunks per round of requests.", "min": 1})

    def __post_init__(self):
        super().__post_init__()
        if not self.docs:
            raise ConfigError("self-qa needs documents: --docs PATH (a file or a folder)")
        if not 0 <= self.grounding <= 1:
            raise ConfigError("self-qa: grounding must be between 0 and 1")
        if self.chunk_chars < 100 or not 0 <= self.overlap < self.chunk_chars // 2:
            raise ConfigError("self-qa: chunk_chars must be >= 100 and overlap below half of it")
        if self.questions_per_chunk < 1 or self.batch < 1:
            raise ConfigError("self-qa: questions_per_chunk and batch must be at least 1")


class SelfQAGenerator(Generator):
    name = "self-qa"
    config_cls = SelfQAConfig
    summary = "Questions from document chunks, answered from the same chunk (Self-QA)."
    required = ("docs",)

    def __init__(self, config: SelfQAConfig):
        super().__init__(config)
        # read now, so a bad file fails before any model is loaded or call is paid for
        self.documents = read_documents(config.docs, config.text_field)
        all_chunks = chunk_documents(self.documents, config.chunk_chars, config.overlap)
        self.chunks = [c for c in all_chunks
                       if len(c.text) >= config.min_chunk_chars and prose_ratio(c.text) >= config.min_prose]
        self.report.inputs = sorted({d.path for d in self.documents})
        self.report.counts.update(documents=len(self.documents), chunks=len(all_chunks),
                                  chunks_skipped=len(all_chunks) - len(self.chunks))
        if not self.chunks:
            raise DataError(config.docs, None, f"no chunk of at least {config.min_chunk_chars} characters "
                                               "of prose to ask questions about")
        self._encode = None

    def lang_of(self, chunk: Chunk) -> str:
        return self.config.lang if self.config.lang != "auto" else detect_lang(chunk.text)

    def dominant_lang(self) -> str:
        return detect_lang([c.text for c in self.chunks])

    def _note_prompts(self, lang: str) -> None:
        for name in ("self_qa_questions", "self_qa_answer"):
            p = load_prompt(name, lang)
            self.report.prompt_templates[p.ref] = p.sha

    def _meta(self, chunk: Chunk, lang: str) -> dict:
        return {"source": "self-qa", "lang": lang, "doc": chunk.doc_id, "chunk": [chunk.start, chunk.end],
                **({"heading": chunk.heading} if chunk.heading else {})}

    def _embed_score(self, answer: str, chunk: str) -> float:
        if self._encode is None:
            from ...filters.embedding import load_encoder

            self._encode = load_encoder(self.config.embed_model)
        a, c = self._encode([answer, chunk])
        return float(a @ c)

    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        cfg = self.config
        counts = self.report.counts
        for k in ("questions", "answers", "kept"):
            counts.setdefault(k, 0)
        order = self.chunk_order()
        asked: set[str] = set()
        pos = kept = 0
        while pos < len(order) and kept < num:
            # near the target, ask about fewer chunks so the last round pays for little waste
            need = math.ceil((num - kept) / max(1, cfg.questions_per_chunk // 2))
            batch = order[pos: pos + max(1, min(cfg.batch, need))]
            pos += len(batch)
            langs = [self.lang_of(c) for c in batch]
            for lang in set(langs):
                self._note_prompts(lang)
            reqs = [ChatRequest.make(question_messages(c, cfg.questions_per_chunk, lang),
                                     temperature=cfg.question_temperature, max_tokens=cfg.max_tokens,
                                     prefill="1.", seed=stable_seed(cfg.seed, c.ref))
                    for c, lang in zip(batch, langs)]
            pending: list[tuple[Chunk, str, str]] = []
            for c, lang, comps in zip(batch, langs, client.chat_many(reqs, desc="self-qa questions")):
                qs = parse_questions(comps[0].text, cut_off=comps[0].finish_reason == "length")
                for q in qs[:cfg.questions_per_chunk]:  # small models run on past the list
                    counts["questions"] += 1
                    reason = ("question_refers_to_text" if refers_to_source(q)
                              else "duplicate_question" if q in asked else None)
                    asked.add(q)
                    if reason:
                        yield Outcome(Record(instruction=q, meta=self._meta(c, lang)),
                                      Verdict(False, reason, FILTER), stage="question")
                    else:
                        pending.append((c, lang, q))
            if not pending:
                continue
            reqs = [ChatRequest.make(answer_messages(c, q, lang), temperature=cfg.answer_temperature,
                                     max_tokens=cfg.max_tokens, seed=stable_seed(cfg.seed, c.ref, q))
                    for c, lang, q in pending]
            answered: list[Record] = []
            for (c, lang, q), comps in zip(pending, client.chat_many(reqs, desc="self-qa answers")):
                counts["answers"] += 1
                answer, reason = clean_answer(comps[0].text, cut_off=comps[0].finish_reason == "length")
                meta = self._meta(c, lang)
                detail: dict = {}
                if reason is None:
                    meta["grounding"] = detail["grounding"] = round(grounding_score(answer, c.text), 3)
                    if meta["grounding"] < cfg.grounding:
                        reason = "answer_not_grounded"
                    elif cfg.grounding_embed is not None:
                        meta["grounding_embed"] = detail["grounding_embed"] = round(
                            self._embed_score(answer, c.text), 3)
                        if meta["grounding_embed"] < cfg.grounding_embed:
                            reason = "answer_not_grounded"
                record = Record(instruction=q, output=answer, meta=meta)
                if reason:
                    yield Outcome(record, Verdict(False, reason, FILTER, detail), stage="answer")
                else:
                    answered.append(record)
            # the round's answered questions through the chain in one batch
            for record, verdict in zip(answered, chain.check_many(answered, limit=num - kept)):
                if verdict is None:
                    counts["surplus"] = counts.get("surplus", 0) + 1  # answered, not needed
                    continue
                yield Outcome(record, verdict, stage="instruction")
                kept += verdict.kept
        counts["kept"] = kept
        if kept >= num:
            self.report.stop_reason = f"reached --num {num}"
        else:
            self.report.stop_reason = (
                f"asked about every chunk once ({len(self.chunks)} chunks from {len(self.documents)} "
                f"documents) and kept {kept} of {num}; add documents, or publish another version "
                "(a new seed asks new questions)")

    # ---- sharding (datagen/generators/blocks.py): blocks of the chunk order ------------
    _block: list[Chunk] | None = None  # set on a copy by run_alone: that block only

    def chunk_order(self) -> list[Chunk]:
        """The chunks in the order a run asks about them: shuffled by the seed, so a run
        samples across documents, not the first one only."""
        if self._block is not None:
            return list(self._block)
        order = list(self.chunks)
        random.Random(self.config.seed).shuffle(order)
        return order

    def blocks(self) -> list[list[Chunk]]:
        return split(self.chunk_order(), self.config.batch)

    def run_block(self, block: list[Chunk], client: ChatClient) -> BlockResult:
        return run_alone(self, block, client)

    def accept_block(self, outcomes: list[Outcome], state: dict) -> list[Outcome]:
        """A question an earlier block asked is a duplicate_question, as in one process
        (there it is dropped before it is answered; a block answers it first)."""
        asked: set[str] = state.setdefault("asked", set())
        out = []
        for o in outcomes:
            q = o.record.instruction
            if o.stage != "question" and q in asked:
                meta = {k: v for k, v in o.record.meta.items() if k in ("source", "lang", "doc", "chunk", "heading")}
                o = Outcome(Record(instruction=q, meta=meta), Verdict(False, "duplicate_question", FILTER),
                            stage="question")
            out.append(o)
        asked.update(o.record.instruction for o in outcomes)
        return out
