"""Evol-Instruct (Xu et al. 2023, WizardLM): make instructions harder, step by step.

Each seed instruction starts a lineage. In every round all live lineages advance one
step at once: a method is drawn per step (seeded) — in-depth (add constraints, deepen,
concretize, more reasoning steps, complicate the input) or in-breadth (a new, rarer
instruction of the same domain) — and the round's evolutions go out in one `chat_many`.
The rewritten prompts pass the template-words rule and the injected filter chain (rules,
ROUGE/embedding dedup against everything kept), then the information-gain check (one
fixed-choice Equal / Different call each, batched) and are answered (one `chat_many`);
the answer rules drop refusals and empty answers. A dropped step leaves its lineage at
the parent, which evolves again next round with a freshly drawn method (WizardLM puts a
failed instruction back into the pool); `on_fail: end` ends the lineage instead.

Every kept step is a record (the evolved instruction and its answer); `meta` holds the
parent's id, the method, the depth and the lineage back to the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ...filters.reasoning import trace_reason
from ...llm.reasoning import trace_meta
from ...errors import ConfigError
from ...filters.base import FilterChain, Verdict
from ...llm import stages
from ...llm.base import ChatClient, ChatRequest
from ...records import Record
from ..base import Generator, GeneratorConfig, Outcome, surplus
from .evolve import (EQUAL_OPTIONS, METHODS, answer_reason, copies_template, equal_prompt, evolve_prompt,
                     parse_evolved, template_refs)

NAME = "evol-instruct"
FILTER = "evol_rules"
ON_FAIL = ("retry", "end")


@dataclass
class EvolInstructConfig(GeneratorConfig):
    """Evol-Instruct settings (YAML `generator:` section; flags override)."""

    seeds: list[str] = field(default_factory=list, metadata={
        "help": "Instructions to evolve (Self-Instruct JSONL, Alpaca, messages or .txt); repeatable.",
        "path": "file", "str_ok": True})
    from_dataset: str | None = field(default=None, metadata={
        "help": "Evolve the instructions of a published dataset version, NAME or NAME@vN."})
    from_store: str | None = field(default=None, metadata={
        "help": "Store root for --from-dataset [default: $DATAGEN_STORE or ./datasets].", "path": "dir"})
    rounds: int = field(default=4, metadata={"help": "Evolution steps per lineage (WizardLM: 4).", "min": 1})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={
        "help": "Evolution methods to draw from.", "choices": METHODS})
    lineages: int | None = field(default=None, metadata={
        "help": "Seeds evolved together per wave [default: enough for --num with room for drops].", "min": 1})
    on_fail: str = field(default="retry", metadata={
        "help": "After a dropped step: retry from the parent next round, or end the lineage.",
        "choices": ON_FAIL})
    equal_check: bool = field(default=True, metadata={
        "help": "Drop steps judged Equal to their parent (one fixed-choice call each).",
        "flag": "--equal-check/--no-equal-check"})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature for evolutions.", "min": 0})
    max_tokens: int = field(default=256, metadata={"help": "Max tokens per evolved prompt.", "min": 1})
    answer_temperature: float = field(default=0.3, metadata={"help": "Sampling temperature for answers.",
                                                             "min": 0})
    answer_max_tokens: int = field(default=512, metadata={"help": "Max tokens per answer.", "min": 1})

    def __post_init__(self):
        if isinstance(self.seeds, str):
            self.seeds = [self.seeds]
        self.seeds = list(self.seeds or [])
        if isinstance(self.methods, str):
            self.methods = [self.methods]
        self.methods = list(dict.fromkeys(self.methods or []))
        super().__post_init__()
        if not self.seeds and not self.from_dataset:
            raise ConfigError("evol-instruct needs instructions: --seeds FILE or --from-dataset NAME[@vN]")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"evol-instruct: methods must be some of {', '.join(METHODS)}, got {bad or 'none'}")

    def filter_defaults(self) -> dict:
        # an in-depth step keeps its parent's words and adds 10-20 (as WizardLM asks), so
        # at Self-Instruct's ROUGE-L 0.7 most steps of a long seed would be dropped as
        # duplicates of their own parent; near-copies are the information-gain check's job
        return {"rouge": 0.9, "embed": 0.98}


@dataclass
class Node:
    """One instruction of a lineage: a seed (depth 0) or an evolved step."""

    id: str
    instruction: str
    depth: int = 0
    method: str | None = None
    lineage: list[dict] = field(default_factory=list)  # ancestors, seed first: {id, instruction, method}

    def child_lineage(self) -> list[dict]:
        return self.lineage + [{"id": self.id, "instruction": self.instruction, "method": self.method}]


@dataclass
class Step:
    """One lineage's attempt in a round."""

    lineage: int
    parent: Node
    method: str
    record: Record | None = None
    tokens: tuple = (0, 0)  # its evolve request's prompt and completion tokens


class EvolInstructGenerator(Generator):
    name = NAME
    config_cls = EvolInstructConfig
    summary = "Evolve instructions into harder and rarer ones, and answer them (Evol-Instruct, WizardLM)."
    required = ()  # --seeds or --from-dataset

    def __init__(self, config: EvolInstructConfig, seed_records: Sequence[Record] | None = None):
        from ...io import read_records
        from ...text import detect_lang

        super().__init__(config)
        records = list(seed_records or [])
        for path in config.seeds:
            records.extend(read_records(path))
            self.report.inputs.append(str(path))
        if config.from_dataset:
            from ...store import DatasetStore

            version = DatasetStore(config.from_store).resolve(config.from_dataset)
            records.extend(version.records())
            self.report.inputs.append(str(version.data_path))
            self.report.notes.append(f"evolved instructions of {version.ref}")
        seen: dict[str, Node] = {}
        for r in records:
            # Alpaca's input joins the instruction (as WizardLM evolved Alpaca); one seed per
            # instruction, so a Self-Instruct task with three instances is evolved once
            key = r.instruction.strip()
            if key and key not in seen:
                text = key + (f"\n\n{r.input.strip()}" if r.input.strip() else "")
                seen[key] = Node(id=str(r.meta.get("task_id") or r.id), instruction=text)
        if not seen:
            raise ConfigError("evol-instruct: no instructions in the inputs")
        self.seeds = list(seen.values())
        self._dominant = detect_lang(n.instruction for n in self.seeds)

    def dominant_lang(self) -> str:
        return self._dominant

    # -- the loop ---------------------------------------------------------------------
    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        cfg = self.config
        self.report.prompt_templates.update(template_refs(self.lang))
        chain.add_many([Record(instruction=n.instruction, id=n.id) for n in self.seeds])
        order = list(self.seeds)
        self.rng("seed-order").shuffle(order)
        kept = wave = 0
        while kept < num and order:
            wave += 1
            size = cfg.lineages or max(1, math.ceil(1.5 * (num - kept) / cfg.rounds))
            live: list[Node | None] = order[:size]
            order = order[size:]
            self.report.count("lineages", len(live))
            for rnd in range(1, cfg.rounds + 1):
                if kept >= num or not any(live):
                    break
                self.report.count("rounds")
                for step, outcome in self._round(client, chain, wave, rnd, live):
                    if outcome.verdict.kept and kept >= num:  # paid for, not needed
                        self.report.count("surplus")
                        yield surplus(outcome.record, outcome.stage, "made after --num was reached")
                        continue
                    outcome.record.meta.pop("_tokens", None)
                    if outcome.verdict.kept:
                        kept += 1
                        self.report.count(f"method_{step.method}")
                        live[step.lineage] = self._node(step.record)
                    elif cfg.on_fail == "end":
                        live[step.lineage] = None
                    yield outcome
        self.report.counts["kept"] = kept
        if kept >= num:
            self.report.stop_reason = f"kept {kept} evolved instructions (--num {num}) in {wave} wave(s)"
        else:
            self.report.stop_reason = (f"every seed evolved ({len(self.seeds)} seeds, {cfg.rounds} rounds "
                                       f"each); kept {kept} of {num}")

    @staticmethod
    def _node(record: Record) -> Node:
        m = record.meta
        return Node(id=record.id, instruction=record.instruction, depth=m["depth"], method=m["method"],
                    lineage=list(m["lineage"]))

    def _round(self, client: ChatClient, chain: FilterChain, wave: int, rnd: int,
               live: list[Node | None]) -> Iterator[tuple[Step, Outcome]]:
        """One step of every live lineage: (step, outcome) per lineage, in lineage order."""
        cfg, lang = self.config, self.lang
        steps = [Step(i, node, self.rng("method", node.id, wave, rnd).choice(cfg.methods))
                 for i, node in enumerate(live) if node is not None]
        reqs = [ChatRequest.make(evolve_prompt(s.parent.instruction, s.method, lang), temperature=cfg.temperature,
                                 max_tokens=cfg.max_tokens, seed=self.request_seed("evolve", s.parent.id, wave, rnd))
                for s in steps]
        replies = client.chat_many(reqs, desc=stages.EVOLVE.at_round(rnd))
        self.report.count("evolve_requests", len(reqs))
        # 1. the rewritten prompt itself: template words, then the shared chain (in order)
        pending: list[Step] = []
        for s, comps in zip(steps, replies):
            s.tokens = (comps[0].prompt_tokens, comps[0].completion_tokens)
            evolved = parse_evolved(comps[0].text)
            s.record = Record(instruction=evolved, meta=self._meta(client, s, rnd))
            if not evolved:
                yield s, self._drop(s, "empty_evolution", "evolve", {"raw": comps[0].text[:200]})
            elif copies_template(evolved):
                yield s, self._drop(s, "copies_template", "evolve", {"raw": comps[0].text[:200]})
            else:
                pending.append(s)
        verdicts = chain.check_many([s.record for s in pending], describe=True)
        checked = []
        for s, v in zip(pending, verdicts):
            if v.kept:
                s.record.meta.update({k: v.detail[k] for k in ("most_similar", "rouge_l") if k in v.detail})
                checked.append(s)
            else:
                yield s, Outcome(s.record, v, "instruction")
        # 2. information gain over the parent: one fixed-choice call each, together
        if cfg.equal_check and checked:
            options = EQUAL_OPTIONS[lang]
            items = [(equal_prompt(s.parent.instruction, s.record.instruction, lang), "") for s in checked]
            choices = client.choose_many(items, options)
            self.report.count("equal_checks", len(items))
            gained = []
            for s, ch in zip(checked, choices):
                if ch.option == options[0]:
                    yield s, self._drop(s, "no_information_gain", "equal", {"judgement": ch.raw[:80]})
                    continue
                if ch.option is None:  # a judgement naming neither: the step is given the benefit
                    self.report.count("equal_unanswered")
                gained.append(s)
            checked = gained
        # 3. answers, together; the answer rules
        reqs = [ChatRequest.make([{"role": "user", "content": s.record.instruction}],
                                 temperature=cfg.answer_temperature, max_tokens=cfg.answer_max_tokens,
                                 seed=self.request_seed("answer", s.record.instruction))
                for s in checked]
        answers = client.chat_many(reqs, desc=stages.ANSWERS.at_round(rnd)) if reqs else []
        from ...filters import build_answer_chain

        answer_chain = build_answer_chain(lang=lang)  # the answer's language, the prompts' scaffolding
        for s, comps in zip(checked, answers):
            s.record.output = comps[0].text.strip()
            s.record.meta["_tokens"] = [s.tokens[0] + comps[0].prompt_tokens, s.tokens[1] + comps[0].completion_tokens]
            s.record.meta.update(trace_meta(comps[0]))
            if comps[0].finish_reason == "length":
                s.record.meta["answer_truncated"] = True
            s.record.id = s.record.content_id()
            reason = trace_reason(s.record) or answer_reason(s.record.output, lang)
            if reason:
                yield s, self._drop(s, reason, "answer")
                continue
            v = answer_chain.check(s.record, keep=False)
            yield s, Outcome(s.record, v if not v.kept else Verdict(True), "answer")

    def _meta(self, client: ChatClient, s: Step, rnd: int) -> dict:
        return {"generator": NAME, "lang": self.lang, "model": client.model, "method": s.method,
                "depth": s.parent.depth + 1, "parent_id": s.parent.id, "seed_id": (s.parent.lineage or
                [{"id": s.parent.id}])[0]["id"], "round": rnd, "lineage": s.parent.child_lineage()}

    @staticmethod
    def _drop(s: Step, reason: str, stage: str, detail: dict | None = None) -> Outcome:
        return Outcome(s.record, Verdict(False, reason, FILTER, dict(detail or {})), stage)
