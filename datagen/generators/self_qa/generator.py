"""Self-QA (Zhang & Yang 2023): instruction data from documents, without seed tasks.

1. Documents are split into chunks (datagen.io.documents).
2. Knowledge-guided instruction generation: per chunk the model writes questions
   answerable from the chunk alone, phrased for a reader who never sees it.
3. Reading comprehension: each question is answered with its chunk as context —
   abstractive (the model writes the answer), or extractive (extractive.py: each question
   is written from one sentence of the chunk, and that sentence is its answer — grounded
   by construction; the default on the local backend, whose small model can do neither).
4. Pruning: self-referential questions, refusals, cut-off and ungrounded answers are
   dropped here; the shared chain then applies length rules and deduplication.
Every kept record carries its provenance (document, chunk offsets) in `meta`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from ...filters.reasoning import trace_reason
from ...llm.reasoning import trace_meta
from ...io.documents import ON_BAD_DOC, Chunk
from ...errors import ConfigError
from ...filters.base import FilterChain, Verdict
from ...llm import stages
from ...llm.base import ChatClient, ChatRequest
from ...llm.ledger import BudgetExceeded
from ...prompts import load_prompt
from ...records import Record
from ...text import detect_lang
from .notes import STAGE_HINTS, stage_note
from .unused import paid, unused
from .sources import chunk_order, covered_chunks, load_sources
from .checks import FILTER, check_questions
from ..base import Generator, GeneratorConfig, Outcome, capped, surplus
from ..blocks import Asked, BlockResult, run_alone, split
from ..rounds import Aborted, RoundPipeline, budget_room
from . import extractive as ex
from .parsing import (answer_messages, clean_answer, grounding_score, parse_questions, question_messages,
                      refers_to_source, stable_seed)

__all__ = ["SelfQAConfig", "SelfQAGenerator", "stable_seed"]


ANSWER_MODES = ("auto", "extractive", "abstractive")
# ---- the generator ---------------------------------------------------------------------

@dataclass
class SelfQAConfig(GeneratorConfig):
    """Self-QA settings (YAML `generator:` section; flags override)."""

    docs: str = field(default="", metadata={
        "help": "A document or a folder of them, read recursively: .pdf (text layer) .docx .html .epub .pptx "
                ".txt .md .jsonl .json .csv .tsv. Each is asked about in its own language under --lang auto."})
    on_bad_doc: str = field(default="skip", metadata={
        "help": "A document in --docs that cannot be read (scanned, encrypted, corrupt, empty): skip it, "
                "listed with its reason in the summary and manifest, or fail (exit 2). Files of other types "
                "are listed and skipped; a file named alone always fails.", "choices": ON_BAD_DOC})
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
        "help": "Encoder for --grounding-embed [default: embedded MiniLM].", "flag": "--grounding-embed-model"})
    question_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature for questions.",
                                                               "min": 0})
    answer_temperature: float = field(default=0.3, metadata={"help": "Sampling temperature for answers.",
                                                             "min": 0})
    max_tokens: int = field(default=384, metadata={"help": "Max tokens per model reply.", "min": 1})
    batch: int = field(default=8, metadata={"help": "Chunks per round of requests.", "min": 1})
    question_samples: int = field(default=4, metadata={
        "help": "Extractive, local backend: questions sampled per sentence; the on-topic one under "
                "which the sentence is the likeliest reply is kept (1: one greedy question).", "min": 1})
    answer_mode: str = field(default="auto", metadata={
        "help": "How answers are made: abstractive (the model writes them from the chunk), extractive "
                "(a question is written per chunk sentence, and the sentence is its answer), or auto "
                "(extractive on the local backend, abstractive elsewhere).",
        "choices": ANSWER_MODES})
    rounds_in_flight: int = field(default=8, metadata={
        "help": "Rounds pipelined at once (openai backend; see generators/rounds.py).", "min": 1})
    strict_rounds: bool = field(default=False, metadata={
        "help": "One round at a time: a round's questions go out after the last round's answers are in.",
        "flag": "--strict-rounds"})

    def __post_init__(self):
        super().__post_init__()
        if not self.docs:
            raise ConfigError("self-qa needs documents: --docs PATH (a file or a folder)")
        # single-field limits are in the metadata (checked by validate); this one spans two
        if self.overlap >= self.chunk_chars // 2:
            raise ConfigError("self-qa: overlap must be below half of chunk_chars")


class SelfQAGenerator(Generator):
    name = "self-qa"
    config_cls = SelfQAConfig
    summary = "Questions from document chunks, answered from the same chunk (Self-QA)."
    required = ("docs",)
    maps_inputs = True

    def __init__(self, config: SelfQAConfig, map_fn=None):
        super().__init__(config)
        # read now, so a bad file fails before any model is loaded or call is paid for;
        # `map_fn`: where files not in the conversion cache are converted (io/convert.py)
        sources = load_sources(config, self.report, map_fn)
        self.documents, self.chunks, self.doc_lang = sources.documents, sources.chunks, sources.doc_lang
        # --lang auto: each document in its own language, even after the run pins one
        self._per_doc_lang = config.lang == "auto"
        self._encode = None
        self._spans: dict[str, list[ex.Span]] = {}  # chunk ref -> answer candidates

    def lang_of(self, chunk: Chunk) -> str:
        """The language a chunk is asked in: its document's under --lang auto."""
        if self._per_doc_lang or self.config.lang == "auto":
            return self.doc_lang.get(chunk.doc_id) or detect_lang(chunk.text)
        return self.config.lang

    def dominant_lang(self) -> str:
        return detect_lang([c.text for c in self.chunks])

    def _note_prompts(self, lang: str, names: tuple[str, ...]) -> None:
        for name in names:
            p = load_prompt(name, lang)
            self.report.prompt_templates[p.ref] = p.sha

    def _meta(self, chunk: Chunk, lang: str) -> dict:
        return {"source": "self-qa", "lang": lang, "doc": chunk.doc_id, "chunk": [chunk.start, chunk.end],
                **({"page": chunk.page} if chunk.page is not None else {}),
                **({"page_end": chunk.page_end} if chunk.page_end not in (None, chunk.page) else {}),
                **({"heading": chunk.heading} if chunk.heading else {})}

    def _embed_score(self, answer: str, chunk: str) -> float:
        if self._encode is None:
            from ...filters.embedding import load_encoder

            self._encode = load_encoder(self.config.embed_model)
        a, c = self._encode([answer, chunk])
        return float(a @ c)

    def answer_mode(self, client: ChatClient) -> str:
        """The configured mode, `auto` resolved: extractive where the client's model cannot
        write grounded answers (the local backend's small model), abstractive elsewhere."""
        if self.config.answer_mode != "auto":
            return self.config.answer_mode
        return "extractive" if client.prefers_extractive else "abstractive"

    def _answer_requests(self, client: ChatClient, pending) -> list:
        """Abstractive: the answer completions for a round's questions (a worker's part)."""
        cfg = self.config
        reqs = [ChatRequest.make(answer_messages(c, q, lang), temperature=cfg.answer_temperature,
                                 max_tokens=cfg.max_tokens, seed=stable_seed(cfg.seed, c.ref, q))
                for c, lang, q, _ in pending]
        return client.chat_many(reqs, desc=stages.SELF_QA_ANSWERS)

    def _abstractive(self, pending, replies) -> Iterator[tuple[Record, str | None, dict]]:
        cfg = self.config
        for (c, lang, q, _), comps in zip(pending, replies):
            answer, reason = clean_answer(comps[0].text, cut_off=comps[0].finish_reason == "length")
            meta = {**self._meta(c, lang), "answer_mode": "abstractive", **trace_meta(comps[0])}
            reason = trace_reason(Record(instruction=q, output=answer, meta=meta)) or reason
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
            yield Record(instruction=q, output=answer, meta=meta), reason, detail

    def _candidates(self, chunk: Chunk) -> list[ex.Span]:
        if chunk.ref not in self._spans:
            self._spans[chunk.ref] = ex.answer_candidates(chunk, refers_to_source)
        return self._spans[chunk.ref]

    def _extractive(self, pending, replies=None) -> Iterator[tuple[Record, str | None, dict]]:
        """The answer is the sentence the question was written from (extractive.py)."""
        for c, lang, q, source in pending:
            meta = {**self._meta(c, lang), "answer_mode": "extractive",
                    "answer_span": ex.document_span(c, source),
                    "grounding": round(grounding_score(source.text, c.text), 3)}
            yield Record(instruction=q, output=source.text, meta=meta), None, {}

    def _questions(self, client: ChatClient, batch: list[Chunk], langs: list[str], mode: str):
        """(chunk, lang, question, source sentence or None) for a round of chunks. Abstractive:
        the model writes a list per chunk. Extractive: one question per sentence, written
        from that sentence alone (the embedded model stays on topic that way)."""
        cfg = self.config
        if mode == "abstractive":
            reqs = [ChatRequest.make(question_messages(c, cfg.questions_per_chunk, lang),
                                     temperature=cfg.question_temperature, max_tokens=cfg.max_tokens,
                                     prefill="1.", seed=stable_seed(cfg.seed, c.ref))
                    for c, lang in zip(batch, langs)]
            for c, lang, comps in zip(batch, langs, client.chat_many(reqs, desc=stages.SELF_QA_QUESTIONS)):
                qs = parse_questions(comps[0].text, cut_off=comps[0].finish_reason == "length")
                for q in qs[:cfg.questions_per_chunk]:  # small models run on past the list
                    n = min(len(qs), cfg.questions_per_chunk)  # each question's share of its request
                    self._paid[(c.ref, q)] = (comps[0].prompt_tokens // n, comps[0].completion_tokens // n)
                    yield c, lang, q, None
            return
        asks = [(c, lang, span) for c, lang in zip(batch, langs)
                for span in ex.spread(self._candidates(c), cfg.questions_per_chunk)]
        # a client that scores text by likelihood (the local backend): sample several questions
        # per sentence and keep the one under which the sentence is the likeliest reply;
        # otherwise one greedy question (a re-run with a new seed samples instead, to ask new ones)
        rank = cfg.question_samples > 1 and client.supports_likelihood
        reqs = [ChatRequest.make(ex.sentence_question_messages(span.text, lang),
                                 n=cfg.question_samples if rank else 1,
                                 temperature=cfg.question_temperature if rank or cfg.seed else 0.0,
                                 max_tokens=64, stop=["\n"], seed=stable_seed(cfg.seed, c.ref, span.start))
                for c, lang, span in asks]
        for (c, lang, span), comps in zip(asks, client.chat_many(reqs, desc=stages.SELF_QA_QUESTIONS)):
            qs = list(dict.fromkeys(q for comp in comps for q in parse_questions(comp.text)[:1]))
            if len(qs) > 1:
                qs = ex.rank_questions(qs, span.text, lambda q: client.choose(
                    [{"role": "user", "content": q}], [span.text]).scores[span.text])
            if qs:
                yield c, lang, qs[0], span

    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        """Yield an Outcome per question until `num` pairs are kept or every chunk was asked about.

        Rounds are pipelined (generators/rounds.py): up to `rounds_in_flight` rounds are in
        flight, so the next round's question requests go out while this one's answers are
        requested. The duplicate-question check runs in round order, and rounds are finished
        (answers judged, the chain, counting) in round order: requests are seeded per chunk,
        so the kept set is the one the one-round-at-a-time loop keeps. `strict_rounds`, the
        local backend (one model is the bottleneck) and a Ray block (one round) run them one by one."""
        cfg = self.config
        counts = self.report.counts
        for k in ("questions", "answers", "kept"):
            counts.setdefault(k, 0)
        mode = self.answer_mode(client)
        prompts = (("self_qa_questions", "self_qa_answer") if mode == "abstractive"
                   else ("self_qa_sentence_question", "self_qa_sentence_examples"))
        drops = {stage: Counter() for stage in ("question", "answer", "instruction")}
        entered = Counter()
        order = self.chunk_order()  # shuffled by the seed; a Ray block's own chunks
        self._paid: dict = {}  # (chunk, question): its share of the question request's tokens
        asked = Asked(self._asked_before)  # a Ray block: what the blocks before it asked
        # about half of free-form pairs survive, most extractive ones
        per_chunk = max(1, cfg.questions_per_chunk // 2 if mode == "abstractive" else cfg.questions_per_chunk - 1)
        depth = (cfg.rounds_in_flight if client.concurrent_calls and not cfg.strict_rounds and self._block is None
                 else 1)
        st = {"pos": 0, "kept": 0, "planned": 0, "finished": 0, "chunks_in_flight": 0}

        def plan():
            if st["pos"] >= len(order) or st["kept"] >= num:
                return None
            # near the target, ask about fewer chunks so the last round pays for little waste;
            # the rounds in flight are counted as keeping what the finished ones kept per chunk
            done_chunks = st["pos"] - st["chunks_in_flight"]
            rate = st["kept"] / done_chunks if done_chunks else per_chunk
            need = math.ceil((num - st["kept"] - st["chunks_in_flight"] * rate) / per_chunk)
            if need <= 0 and st["chunks_in_flight"]:
                return None
            if st["chunks_in_flight"] and not budget_room(client, st, st["planned"] - st["finished"]):
                return None  # under a cap: rounds in flight would spend it on questions never answered
            batch = order[st["pos"]: st["pos"] + max(1, min(cfg.batch, need))]
            st["pos"] += len(batch)
            st["chunks_in_flight"] += len(batch)
            st["planned"] += 1
            langs = [self.lang_of(c) for c in batch]
            for lang in set(langs):
                self._note_prompts(lang, prompts)
            return batch, langs

        def work(rnd, args, turn):
            batch, langs = args
            try:
                questions = list(self._questions(client, batch, langs, mode))
            except BudgetExceeded:  # nothing of this round went out
                return len(batch), 0, [], [], None
            pre, pending, replies = [], questions, None
            try:
                with turn:  # `asked` grows in round order
                    pre, pending = check_questions(self._meta, questions, asked, mode)
                turn.check()
                replies = self._answer_requests(client, pending) if pending and mode == "abstractive" else None
            except (Aborted, BudgetExceeded):  # questions paid, never answered (or checked): surplus
                pass
            return len(batch), len(questions), pre, pending, replies

        def drain(rnd, result):
            _, _, pre, pending, replies = result
            counts["abandoned_rounds"] = counts.get("abandoned_rounds", 0) + 1
            yield from pre
            yield from unused(self, pending, replies, "round in flight when the run stopped")

        def finish(rnd, result):
            n_chunks, n_questions, pre, pending, replies = result
            st["finished"] = rnd
            st["used_at_finish"] = client.usage.ledger.used() if client.usage.ledger is not None else None
            st["chunks_in_flight"] -= n_chunks
            counts["questions"] += n_questions
            entered["question"] += n_questions
            for o in pre:
                drops["question"][o.verdict.reason] += 1
                yield o
            if not pending:
                return
            if mode == "abstractive" and replies is None:  # the cap stopped the round before its answers
                yield from unused(self, pending, None, "the cap stopped its round")
                return
            answers = (self._extractive if mode == "extractive" else self._abstractive)(pending, replies)
            answered: list[Record] = []
            for i, (record, reason, detail) in enumerate(answers):  # one per pending question, in order
                counts["answers"] += 1
                entered["answer"] += 1
                if reason:
                    drops["answer"][reason] += 1
                    yield Outcome(record, Verdict(False, reason, FILTER, detail), stage="answer")
                else:
                    answered.append(record)
                    record.meta["_tokens"] = paid(self, pending[i], replies[i][0] if replies else None)
            # the round's answered questions through the chain in one batch
            for record, verdict in zip(answered, chain.check_many(answered, limit=num - st["kept"])):
                if verdict is None:  # answered, not needed
                    counts["surplus"] = counts.get("surplus", 0) + 1
                    yield surplus(record, "instruction", "answered after --num was reached")
                    continue
                record.meta.pop("_tokens", None)
                entered["instruction"] += 1
                if not verdict.kept:
                    drops["instruction"][verdict.reason] += 1
                yield Outcome(record, verdict, stage="instruction")
                st["kept"] += verdict.kept

        yield from RoundPipeline(depth).run(plan, work, finish, lambda: st["kept"] >= num or capped(client), drain)
        kept = counts["kept"] = st["kept"]
        for stage, stage_drops in drops.items():
            if note := stage_note(stage, entered[stage], stage_drops, STAGE_HINTS[stage]):
                self.report.notes.append(note)
        if capped(client) and kept < num:  # every round paid for is accounted above; the run stopped on the cap
            raise BudgetExceeded(client.usage.ledger.stopped["detail"], dict(client.usage.ledger.stopped))
        if kept >= num:
            self.report.stop_reason = f"reached --num {num}"
        else:
            self.report.stop_reason = (
                f"asked about every chunk once ({len(self.chunks)} chunks from {len(self.documents)} "
                f"documents) and kept {kept} of {num}; add documents, or publish another version "
                "(a new seed asks new questions)")

    # ---- sharding (datagen/generators/blocks.py): blocks of the chunk order ------------
    _block: list[Chunk] | None = None  # set on a copy by run_alone: that block only
    _asked_before: frozenset = frozenset()  # and the digests of what the blocks before it asked

    _covered: frozenset = frozenset()  # the chunks the parent's records came from

    def continue_from(self, parent) -> None:
        """A refresh asks first about the chunks none of the parent's records came from
        (sources.covered_chunks): the parent's give back questions it already holds."""
        self._covered = covered_chunks(parent)

    def chunk_order(self) -> list[Chunk]:
        """The chunks in the order a run asks about them (sources.chunk_order)."""
        return list(self._block) if self._block is not None else chunk_order(self.chunks, self.config.seed,
                                                                                 self._covered)

    def blocks(self) -> list[list[Chunk]]:
        return split(self.chunk_order(), self.config.batch)

    def run_block(self, block: list[Chunk], client: ChatClient, asked_before: frozenset = frozenset()) -> BlockResult:
        return run_alone(self, block, client, asked_before)

    def accept_block(self, outcomes: list[Outcome], state: dict) -> list[Outcome]:
        """A question an earlier block asked is a duplicate_question, as in one process. A
        block sent once that one's result was back dropped it unanswered (`asked_before`);
        one running beside it answered it first: paid for, dropped here."""
        asked: set[str] = state.setdefault("asked", set())
        out = []
        for o in outcomes:
            q = o.record.instruction
            if o.stage != "question" and q in asked:
                meta = {k: v for k, v in o.record.meta.items() if k in ("source", "lang", "doc", "chunk", "page", "page_end",
                                                                 "heading")}
                o = Outcome(Record(instruction=q, meta=meta), Verdict(False, "duplicate_question", FILTER),
                            stage="question")
            out.append(o)
        asked.update(o.record.instruction for o in outcomes)
        return out
