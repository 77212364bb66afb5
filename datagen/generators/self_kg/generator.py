"""Self-KG: question/answer pairs from knowledge-graph triples, as HuaTuo built its
medical data from a knowledge base.

Facts are grouped by head entity (1..max_facts relations per group, each list whole). In `llm` mode the model writes
a natural question and an answer using exactly those facts; in `template` mode relation
templates (prompts/<lang>/self_kg_templates.txt) build simple pairs with no model at all.
Verification drops any answer that fails to mention every tail it was given; survivors
go through the shared filter chain. `meta` carries the triples used.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...errors import ConfigError
from ...filters.base import FilterChain, Verdict
from ...filters.reasoning import trace_reason
from ...io import read_text
from ...io.triples import read_triples
from .kg import (FactGroup, format_facts, group_by_head, join_items, missing_tails, parse_qa,
                 parse_templates, template_qa)
from ...llm import stages
from ...llm.base import ChatClient, ChatRequest
from ...llm.reasoning import trace_meta
from ...prompts import load_prompt
from ...records import Record
from ...text import detect_lang
from ..base import Generator, GeneratorConfig, Outcome
from ..blocks import BlockResult, run_alone, split
from ..self_qa.generator import stable_seed

FILTER = "self_kg"
MODES = ("llm", "template")
PREFILL = {"en": "Question:", "zh": "问题："}
_SOURCE_REF = re.compile(r"knowledge graph|\bthe (?:given |listed |above )?facts\b|知识图谱|以上事实|上述事实|给定的事实",
                         re.I)


def qa_messages(group: FactGroup, lang: str) -> list[dict]:
    tails = join_items([f"“{t}”" if lang == "zh" else f'"{t}"' for t in group.tails], lang)
    text = load_prompt("self_kg_qa", lang).render(facts=format_facts(group), head=group.head, tails=tails)
    return [{"role": "user", "content": text}]


def verify(question: str, answer: str, group: FactGroup, fuzzy: int = 90) -> tuple[str | None, dict]:
    """(drop reason or None, detail): every tail must be mentioned, and neither side may
    mention the knowledge graph the user will never see."""
    missing = missing_tails(answer, group.tails, fuzzy)
    if missing:
        return "answer_missing_fact", {"missing": missing}
    if _SOURCE_REF.search(question) or _SOURCE_REF.search(answer):
        return "refers_to_source", {}
    return None, {}


@dataclass
class SelfKGConfig(GeneratorConfig):
    """Self-KG settings (YAML `generator:` section; flags override)."""

    triples: str = field(default="", metadata={
        "help": "Triples: JSONL/JSON {head, relation, tail}, CSV/TSV with those columns, or HuaTuo-style "
                "entity records {\"中心词\": ..., relation: [values]}; or a folder of them."})
    mode: str = field(default="llm", metadata={
        "help": "llm: the model writes each pair; template: relation templates, no model.", "choices": MODES})
    max_facts: int = field(default=3, metadata={
        "help": "Relations per question in llm mode: 1..N, each with all its values.", "min": 1})
    max_tails: int = field(default=8, metadata={
        "help": "Split a longer list of values (the answer must name each one).", "min": 1})
    templates: str | None = field(default=None, metadata={
        "help": "Relation templates file (relation | question | answer) for template mode.", "path": "file"})
    fuzzy: int = field(default=90, metadata={
        "help": "rapidfuzz partial_ratio accepted as a mention of a long tail; 100 = exact.", "min": 0, "max": 100})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature.", "min": 0})
    max_tokens: int = field(default=256, metadata={"help": "Max tokens per model reply.", "min": 1})
    batch: int = field(default=16, metadata={"help": "Fact groups per round of requests.", "min": 1})

    def __post_init__(self):
        super().__post_init__()
        if not self.triples:
            raise ConfigError("self-kg needs a knowledge graph: --triples PATH")

    def filter_defaults(self) -> dict:
        # template questions differ in one entity name, so ROUGE/embedding dedup would keep
        # one per template: off in template mode unless asked for (exact duplicates still go)
        return {"rouge": None, "embed": None} if self.mode == "template" else {}


class SelfKGGenerator(Generator):
    name = "self-kg"
    config_cls = SelfKGConfig
    summary = "Question/answer pairs from knowledge-graph triples (Self-KG, as HuaTuo)."
    required = ("triples",)

    def __init__(self, config: SelfKGConfig):
        super().__init__(config)
        self.triples = read_triples(config.triples)  # fail on bad input before any model loads
        root = Path(config.triples)
        self.report.inputs = sorted({t.source.rsplit(":", 1)[0] for t in self.triples}) or [str(root)]
        self.report.counts.update(triples=len(self.triples),
                                  entities=len({t.head for t in self.triples}))
        self._templates: dict[str, dict] = {}
        if config.templates:
            self._user_templates = parse_templates(read_text(config.templates))
            self.report.inputs.append(str(config.templates))
        else:
            self._user_templates = None

    def lang_of(self, group: FactGroup) -> str:
        if self.config.lang != "auto":
            return self.config.lang
        return detect_lang([group.head] + [t.relation for t in group.triples] + group.tails)

    def dominant_lang(self) -> str:
        return detect_lang([f"{t.head}{t.relation}{t.tail}" for t in self.triples])

    def templates(self, lang: str) -> dict:
        if self._user_templates is not None:
            return self._user_templates
        if lang not in self._templates:
            p = load_prompt("self_kg_templates", lang)
            self.report.prompt_templates[p.ref] = p.sha
            self._templates[lang] = parse_templates(p.text)
        return self._templates[lang]

    def groups(self) -> list[FactGroup]:
        """Fact groups in the order a run uses them (a block's copy: that block only)."""
        if self._block is not None:
            return list(self._block)
        cfg = self.config
        groups = group_by_head(self.triples, cfg.max_facts, cfg.seed, by_relation=cfg.mode == "template",
                               max_tails=cfg.max_tails)
        random.Random(cfg.seed).shuffle(groups)  # spread questions over entities
        return groups

    # ---- sharding (datagen/generators/blocks.py): blocks of fact groups ---------------
    _block: list[FactGroup] | None = None  # set on a copy by run_alone: that block only

    def blocks(self) -> list[list[FactGroup]]:
        return split(self.groups(), self.config.batch)

    def run_block(self, block: list[FactGroup], client: ChatClient, asked_before: frozenset = frozenset()) -> BlockResult:
        return run_alone(self, block, client)

    def accept_block(self, outcomes: list[Outcome], state: dict) -> list[Outcome]:
        return outcomes  # groups share no state: the chain's dedup is all there is

    def _meta(self, group: FactGroup, lang: str) -> dict:
        return {"source": "self-kg", "mode": self.config.mode, "lang": lang, "entity": group.head,
                "triples": [t.as_dict() for t in group.triples]}

    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        cfg = self.config
        groups = self.groups()
        counts = self.report.counts
        counts.update(groups=len(groups), kept=0)
        kept = 0
        pos = 0
        while pos < len(groups) and kept < num:
            batch = groups[pos: pos + (len(groups) if cfg.mode == "template" else max(1, min(cfg.batch, num - kept)))]
            pos += len(batch)
            pending: list[Record] = []
            for group, lang, reply, trace in self._pairs(client, batch):
                meta = {**self._meta(group, lang), **trace}  # a reasoning model's trace, kept apart
                question, answer, raw = reply
                # the reply itself where it did not parse: a trace with text after it has an answer
                seen = Record(instruction=question or "", output=answer if question is not None else raw, meta=meta)
                if why := trace_reason(seen):
                    yield Outcome(seen, Verdict(False, why, why), stage="answer")
                    continue
                if question is None:
                    yield Outcome(Record(instruction="", output=raw, meta=meta),
                                  Verdict(False, "unparsable_reply", FILTER), stage="answer")
                    continue
                record = Record(instruction=question, output=answer, meta=meta)
                reason, detail = verify(question, answer, group, cfg.fuzzy)
                if reason:
                    yield Outcome(record, Verdict(False, reason, FILTER, detail), stage="verify")
                    continue
                pending.append(record)
                if len(pending) >= num - kept:  # enough to reach --num if all pass: check them
                    kept += yield from self._check(chain, pending)
                    if kept >= num:
                        break
            kept += yield from self._check(chain, pending)
        counts["kept"] = kept
        if kept >= num:
            self.report.stop_reason = f"reached --num {num}"
        else:
            self.report.stop_reason = (f"used every fact group once ({len(groups)} groups from "
                                       f"{counts['triples']} triples) and kept {kept} of {num}")

    @staticmethod
    def _check(chain: FilterChain, pending: list[Record]):
        """Pass the verified pairs through the chain in one batch; returns how many were kept."""
        kept = 0
        for record, verdict in zip(pending, chain.check_many(pending)):
            yield Outcome(record, verdict, stage="instruction")
            kept += verdict.kept
        pending.clear()
        return kept

    def _pairs(self, client: ChatClient, batch: list[FactGroup]):
        """(group, lang, (question or None, answer, raw reply), trace meta) per group, from
        templates or the model."""
        cfg = self.config
        langs = [self.lang_of(g) for g in batch]
        if cfg.mode == "template":
            for g, lang in zip(batch, langs):
                q, a = template_qa(g, self.templates(lang), lang)
                yield g, lang, (q, a, ""), {}
            return
        for lang in set(langs):
            p = load_prompt("self_kg_qa", lang)
            self.report.prompt_templates[p.ref] = p.sha
        reqs = [ChatRequest.make(qa_messages(g, lang), temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                 prefill=PREFILL[lang],
                                 seed=stable_seed(cfg.seed, g.head, *(f"{t.relation}={t.tail}" for t in g.triples)))
                for g, lang in zip(batch, langs)]
        for g, lang, comps in zip(batch, langs, client.chat_many(reqs, desc=stages.SELF_KG_PAIRS)):
            raw = comps[0].text
            parsed = parse_qa(raw)
            yield g, lang, (parsed[0], parsed[1], raw) if parsed else (None, "", raw), trace_meta(comps[0])
