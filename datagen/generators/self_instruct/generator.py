"""Self-Instruct (Wang et al. 2022): bootstrap instructions from seeds, decide which are
classification tasks, generate instances (output-first for classification, input-first
otherwise), and filter inside the loop so the pool only grows with new, valid tasks.

Each round: `batch` bootstrap prompts of 8 examples (6 seeds + 2 machine tasks) go out
at once; the new instructions pass the instruction FilterChain; the survivors are
classified (fixed-choice call, never a silent default) and get up to `instances`
instances, which pass the instance rules. Seeds in `messages` form make the generator
produce conversations with as many user turns as a sampled seed has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

from ...errors import ConfigError
from ...filters.base import FilterChain, Verdict
from ...llm import stages
from ...llm.base import ChatClient, ChatRequest, Choice
from ...llm.ledger import BudgetExceeded
from ...records import Record
from . import prompts as P
from ..base import GenerationReport, Generator, GeneratorConfig, Outcome, capped, surplus
from ..rounds import Aborted, RoundPipeline, budget_room
from .classify import classify, classify_tasks
from .demand import Demand, drain, task_record
from .tasks import Task, tokens, type_notes, unique_seeds

NAME = "self-instruct"


@dataclass
class SelfInstructConfig(GeneratorConfig):
    """Self-Instruct settings (YAML `generator:` section; CLI flags override)."""

    seeds: list[str] = field(default_factory=list, metadata={
        "help": "Seed tasks (Self-Instruct JSONL, Alpaca, messages or .txt); repeat for several files.",
        "path": "file", "str_ok": True})
    instances: int = field(default=3, metadata={"help": "Instances per instruction, at most.", "min": 1})
    batch: int = field(default=4, metadata={"help": "Bootstrap prompts sent per round.", "min": 1})
    max_rounds: int | None = field(default=None, metadata={
        "help": "Stop after this many rounds [default: enough for --num with room for drops].", "min": 1})
    patience: int = field(default=5, metadata={
        "help": "Stop after this many rounds in a row without a new task.", "min": 1})
    prompt_examples: int = field(default=8, metadata={"help": "Example tasks per bootstrap prompt.", "min": 1})
    machine_examples: int = field(default=2, metadata={
        "help": "Of the prompt examples, how many are tasks generated so far.", "min": 0})
    temperature: float = field(default=0.8, metadata={
        "help": "Sampling temperature for new instructions.", "min": 0})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling for new instructions.",
                                                 "min": 0, "max": 1})
    max_tokens: int = field(default=256, metadata={"help": "Max tokens per bootstrap reply.", "min": 1})
    instance_temperature: float = field(default=0.8, metadata={"help": "Sampling temperature for instances.",
                                                               "min": 0})
    instance_max_tokens: int = field(default=128, metadata={"help": "Max tokens per instance reply.", "min": 1})
    answer_temperature: float = field(default=0.3, metadata={
        "help": "Sampling temperature for multi-turn answers.", "min": 0})
    answer_max_tokens: int = field(default=256, metadata={"help": "Max tokens per multi-turn answer.", "min": 1})
    multi_turn: bool = field(default=True, metadata={
        "help": "Follow the shape of multi-turn seeds (--single-turn: single-turn data from any seeds).",
        "flag": "--multi-turn/--single-turn"})
    calibrate: bool = field(default=False, metadata={
        "help": "Contextual calibration of the classification scores."})
    clf_shots: int = field(default=3, metadata={
        "help": "Labelled seeds of each kind shown to the classifier.", "min": 0})
    rounds_in_flight: int = field(default=8, metadata={
        "help": "Rounds pipelined at once (openai backend; see generators/rounds.py).", "min": 1})
    strict_rounds: bool = field(default=False, metadata={
        "help": "One round at a time, each seeing every earlier round's tasks.", "flag": "--strict-rounds"})
    instance_mode: str = field(default="staged", metadata={
        "help": "staged: an input per request, then the task answered as a user would send it; joint: all of "
                "a generation task's instances in one reply, as the Self-Instruct paper did (about a third of the "
                "requests; outputs written as examples, single-turn).", "choices": ("staged", "joint")})
    judge_min: float | None = field(default=None, metadata={
        "help": "Keep only instances the judge rates at least this (1-5, the AlpaGasus rubric; the run's model "
                "judges, through its cache and ledger): the task pool then grows only with tasks that pass.",
        "min": 1, "max": 5})
    hold_out_seeds: float = field(default=0.0, metadata={
        "help": "Share of seed tasks kept out of generation for `datagen eval` (chosen by a hash of "
                "the seed id, so every run holds out the same ones).", "min": 0, "max": 0.99})

    def __post_init__(self):
        if isinstance(self.seeds, str):
            self.seeds = [self.seeds]
        self.seeds = list(self.seeds or [])
        super().__post_init__()  # the per-field limits in the metadata above
        if not 0 <= self.machine_examples < self.prompt_examples:
            raise ConfigError("self-instruct: machine_examples must be at least 0 and below prompt_examples")


class SelfInstructGenerator(Generator):
    name = NAME
    config_cls = SelfInstructConfig
    summary = "Bootstrap new tasks from seed tasks (Self-Instruct)."
    required = ("seeds",)
    num_counts = "tasks"

    def __init__(self, config: SelfInstructConfig, seed_records: Sequence[Record] | None = None):
        from ...io import read_records
        from ...text import detect_lang

        super().__init__(config)
        records = list(seed_records or [])
        for path in config.seeds:
            records.extend(read_records(path))
        if not records:
            raise ConfigError("self-instruct needs seed tasks: --seeds FILE.jsonl")
        self.seeds = unique_seeds(records)
        self.report = GenerationReport(inputs=list(config.seeds))
        if config.hold_out_seeds:
            from ...eval.split import held_out

            held = held_out([s.id for s in self.seeds], config.hold_out_seeds)
            self.seeds = [s for s in self.seeds if s.id not in held]
            if not self.seeds:
                raise ConfigError("self-instruct: hold_out_seeds leaves no seed task to generate from")
            self.report.held_out = {"fraction": config.hold_out_seeds, "seed_ids": sorted(held),
                                    "files": list(config.seeds)}
            self.report.counts["held_out_seeds"] = len(held)
        self._dominant = detect_lang(s.instruction for s in self.seeds)
        self.report.prompt_templates = P.template_shas(self.lang)

    def dominant_lang(self) -> str:
        return self._dominant

    # -- helpers shared with the instance stage -------------------------------------------
    def meta(self, client: ChatClient, task: Task | None, **extra) -> dict:
        meta = {"generator": NAME, "lang": self.lang, "model": client.model, "source": "machine"}
        if task is not None:
            meta.update(task_id=task.id, round=task.round, prompt_examples=list(task.examples))
            if task.task_type:
                meta["task_type"] = task.task_type
            meta.update(task.similarity)
        meta.update(extra)
        return meta

    def reject(self, record: Record, reason: str, stage: str, filter: str | None = None,
                detail: dict | None = None) -> Outcome:
        return Outcome(record, Verdict(False, reason, filter or stage, dict(detail or {})), stage)

    # -- the loop ---------------------------------------------------------------------
    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        """Yield an Outcome per candidate until `num` tasks have at least one kept instance.

        Rounds are pipelined (see generators/rounds.py): up to `rounds_in_flight` rounds
        are in flight, each planned from the tasks kept when it starts. `strict_rounds`
        (and the local backend, where the model is the bottleneck) runs them one by one."""
        from ...filters import FilterConfig, build_instance_chain

        cfg = self.config
        gate = None
        if cfg.judge_min is not None:
            from ...filters.gate import ScoreGate
            from ...quality.judge import JudgeScorer

            gate = ScoreGate(JudgeScorer(client, self.lang).score_many, cfg.judge_min)
        self.instance_chain = build_instance_chain(FilterConfig(), self.lang, gate=gate)
        chain.add_many([Record(instruction=s.instruction, id=s.id) for s in self.seeds])
        self.machine: list[tuple[str, str]] = []  # (task id, instruction) of tasks with kept records
        max_rounds = cfg.max_rounds or max(20, 4 * math.ceil(num / cfg.batch))
        # only a client whose calls overlap pipelines rounds (local: one model; batch: one job per stage)
        depth = cfg.rounds_in_flight if client.concurrent_calls and not cfg.strict_rounds else 1
        # pipelined: model-backed filters (embedding dedup) run when a round finishes, so
        # encoding (and loading the encoder) never holds up the requests of the rounds in flight
        early, late = chain.split_deferred() if depth > 1 else (chain, FilterChain([]))
        st = {"done": 0, "stale": 0, "planned": 0, "finished": 0}
        # what --num can still use: bounds the tasks a round takes on, and the rounds planned
        demand = Demand(num, per_round=3 * cfg.batch)
        self.report.stop_reason = ""

        def plan():
            if st["planned"] >= max_rounds or st["done"] >= num or st["stale"] >= cfg.patience:
                return None
            running = st["planned"] - st["finished"]
            if running and demand.need() <= 0:
                return None  # the rounds in flight are expected to cover --num
            if running and not budget_room(client, st, running):
                return None
            st["planned"] += 1
            demand.planned()
            return demand, list(self.machine)

        # the deferred filters encode a round's tasks while its classify/instance requests
        # are out, so its finish (in the main thread) only compares vectors
        encoding = ThreadPoolExecutor(1, thread_name_prefix="datagen-prefetch") if late.filters else None

        def work(rnd, args, turn):
            need, machine = args
            return self._round(client, early, rnd, need, machine, turn,
                               encoding and (lambda tasks: encoding.submit(late.prefetch,
                                                                           [t.instruction for t in tasks])))

        def finish(rnd, result):
            pre, tasks, drafts, _ = result
            taken = len(tasks)
            st["finished"] = rnd
            st["used_at_finish"] = client.usage.ledger.used() if client.usage.ledger is not None else None
            self.report.count("rounds")
            yield from pre
            if late.filters and tasks:
                recs = [Record(instruction=t.instruction, meta={"generator": NAME, "round": t.round,
                                                                "prompt_examples": t.examples}) for t in tasks]
                verdicts = late.check_many(recs)
                yield from (Outcome(r, v, "instruction") for r, v in zip(recs, verdicts) if not v.kept)
                tasks = [t for t, v in zip(tasks, verdicts) if v.kept]
            kept_tasks = 0
            for task in tasks:
                outcomes = self._filter_task(client, task, drafts.get(task.id, ([], [])))
                if not outcomes:  # the cap stopped its round before its instances: paid, never made
                    yield surplus(task_record(self, client, task), "instance", "the cap stopped its round")
                    continue
                if st["done"] >= num:
                    # paid for and not needed: each of its records is a `surplus` reject
                    self.report.count("surplus_tasks")
                    yield from (surplus(o.record, "instance", "task finished after --num was reached")
                                if o.verdict.kept else o for o in outcomes)
                    continue
                if any(o.verdict.kept for o in outcomes):
                    st["done"] += 1
                    kept_tasks += 1
                    self.machine.append((task.id, task.instruction))
                    self.report.count(f"tasks_{task.task_type}")
                yield from outcomes
            demand.finished(taken, kept_tasks)
            st["stale"] = 0 if kept_tasks else st["stale"] + 1
            if st["done"] >= num and not self.report.stop_reason:
                self.report.stop_reason = f"kept {st['done']} tasks (--num {num}) after {rnd} rounds"

        def stop():
            return st["done"] >= num or st["stale"] >= cfg.patience or capped(client)

        try:
            yield from RoundPipeline(depth).run(plan, work, finish, stop,
                                                lambda rnd, result: drain(self, client, result))
        finally:
            if encoding:
                encoding.shutdown(wait=True, cancel_futures=True)
        done = st["done"]
        if not self.report.stop_reason:
            if st["stale"] >= cfg.patience:
                self.report.stop_reason = (f"no new task kept in {st['stale']} rounds in a row (patience "
                                           f"{cfg.patience}); kept {done} of {num} tasks")
            else:
                self.report.stop_reason = f"round limit {max_rounds} reached; kept {done} of {num} tasks"
        self.report.counts["tasks"] = done
        self.report.notes.extend(type_notes(self.report.counts))
        if capped(client) and done < num:  # every round paid for is accounted above; the run stopped on the cap
            stopped = client.usage.ledger.stopped
            raise BudgetExceeded(stopped["detail"], dict(stopped))

    def _round(self, client: ChatClient, chain: FilterChain, rnd: int, demand: Demand, machine, turn,
               prefetch: Callable[[list[Task]], Future] | None = None):
        """One round's requests: bootstrap, (in round order) the pool check, classify,
        instances; `prefetch(tasks)` starts background work on the accepted tasks. Returns
        (outcomes so far, accepted tasks, instance drafts per task, candidates never checked);
        a round aborted between stages, or stopped there by the cap, returns what it had."""
        from .instances import InstanceBuilder

        tasks: list[Task] = []
        pre: list[Outcome] = []
        builder = InstanceBuilder(self, client)
        try:
            prompts, replies = self._bootstrap_requests(client, rnd, machine)
        except BudgetExceeded:  # nothing of this round went out
            return pre, [], {}, []
        try:
            turn.check()
            with turn:
                pre += self._bootstrap_filter(chain, rnd, demand.room(), prompts, replies, tasks)
                demand.took(len(tasks))
        except Aborted:  # never checked: its candidates are surplus
            return pre, [], {}, self._candidates(rnd, prompts, replies)
        try:
            ahead = prefetch(list(tasks)) if prefetch and tasks else None
            turn.check()
            pre += list(classify_tasks(self, client, tasks))
            turn.check()
            drafts = builder.build(tasks)
            if self.config.judge_min is not None:  # judged here, alongside the other rounds' requests
                self.instance_chain.prefetch([r for recs, _ in drafts.values() for r in recs])
        except (Aborted, BudgetExceeded):  # the instances made so far are finished or surplus
            return pre, tasks, builder.out, []
        if ahead is not None:
            ahead.result()  # an encoder error surfaces here, in the round
        return pre, tasks, drafts, []

    # -- 1. instruction bootstrap -----------------------------------------------------
    def _examples(self, rnd: int, i: int, machine: list[tuple[str, str]]) -> list[tuple[str, str]]:
        cfg = self.config
        rng = self.rng("examples", rnd, i)
        k_machine = min(cfg.machine_examples, len(machine))
        k_seed = min(cfg.prompt_examples - k_machine, len(self.seeds))
        picked = [(s.id, s.instruction) for s in rng.sample(self.seeds, k_seed)]
        picked += rng.sample(machine, k_machine)
        rng.shuffle(picked)
        return picked

    def _bootstrap_requests(self, client: ChatClient, rnd: int, machine) -> tuple[list, list]:
        """Send the round's bootstrap prompts; (example ids per prompt, completions per prompt)."""
        cfg = self.config
        prompts, reqs = [], []
        for i in range(cfg.batch):
            examples = self._examples(rnd, i, machine)
            messages, prefill = P.bootstrap_prompt([t for _, t in examples], self.lang)
            prompts.append([eid for eid, _ in examples])
            reqs.append(ChatRequest.make(messages, temperature=cfg.temperature, top_p=cfg.top_p,
                                         max_tokens=cfg.max_tokens, prefill=prefill,
                                         seed=self.request_seed("bootstrap", rnd, i)))
        return prompts, client.chat_many(reqs, desc=stages.INSTRUCTIONS.at_round(rnd))

    def _candidates(self, rnd: int, prompts, replies, count: bool = False):
        """The bootstrap replies' candidate instructions, with their share of its tokens;
        a cut-off last item as a record too (its `truncated` flag)."""
        out = []
        for example_ids, comps in zip(prompts, replies):
            for comp in comps:
                items, cut = P.parse_numbered_list(comp.text, truncated=comp.finish_reason == "length")
                if count:
                    self.report.count("candidates", len(items) + (cut is not None))
                p_tok, c_tok = tokens([comp])
                share = [p_tok // max(1, len(items)), c_tok // max(1, len(items))]
                base = {"generator": NAME, "round": rnd, "prompt_examples": example_ids,
                        "usage": {"prompt_tokens": share[0], "completion_tokens": share[1]}}
                if cut is not None:
                    out.append((Record(instruction=cut, meta=dict(base)), example_ids, share, True))
                out.extend((Record(instruction=item, meta=dict(base)), example_ids, share, False) for item in items)
        return out if count else [rec for rec, *_ in out]

    def _bootstrap_filter(self, chain: FilterChain, rnd: int, room: int, prompts, replies,
                          tasks: list[Task]) -> list[Outcome]:
        # candidates beyond what --num can still use (`room`, given the tasks the rounds
        # in flight took on) are not checked: each would cost a classification and its
        # instances for a task the run does not need. They are surplus, paid for once.
        self.report.count("bootstrap_requests", len(prompts))
        out, cands = [], []
        for rec, example_ids, share, cut in self._candidates(rnd, prompts, replies, count=True):
            if cut:
                out.append(self.reject(rec, "truncated_item", "instruction", "length_limit"))
            else:
                cands.append((rec, example_ids, share))
        # the round's candidates in one batch, in order; each kept one joins the pools
        # before the next is checked, and the most similar kept instruction is recorded
        verdicts = chain.check_many([rec for rec, _, _ in cands], describe=True, limit=room) if room > 0 \
            else [None] * len(cands)
        for (rec, example_ids, share), verdict in zip(cands, verdicts):
            if verdict is None:
                self.report.count("unused_candidates")
                out.append(surplus(rec, "instruction", "not checked: --num needs no more tasks"))
            elif not verdict.kept:
                out.append(Outcome(rec, verdict, "instruction"))
            else:
                sim = {k: verdict.detail[k] for k in ("most_similar", "rouge_l") if k in verdict.detail}
                tasks.append(Task(id="si-" + rec.content_id()[:10], instruction=rec.instruction, round=rnd,
                                  examples=example_ids, similarity=sim, tokens=list(share)))
        return out

    # -- 2. classification identification (classify.py) ---------------------------------
    def classify(self, client: ChatClient, instructions: Sequence[str]) -> list[Choice]:
        """Is each instruction a classification task? (classify.py)"""
        return classify(self, client, instructions)

    # -- 3. instance rules, per task ----------------------------------------------------
    def _filter_task(self, client: ChatClient, task: Task, drafts) -> list[Outcome]:
        """Instance rules, then the per-task rules (identical inputs, different outputs)."""
        from ...filters import conflicting_instances

        candidates, rejects = drafts
        outcomes: list[Outcome] = list(rejects)
        passed: list[Record] = []
        for rec, v in zip(candidates, self.instance_chain.check_many(candidates, keep=False)):
            if v.kept:
                passed.append(rec)
            else:
                outcomes.append(Outcome(rec, v, "instance"))
        reasons = conflicting_instances(passed)
        kept = []
        for rec, reason in zip(passed, reasons):
            if reason:
                outcomes.append(Outcome(rec, Verdict(False, reason, "instance_rules"), "instance"))
            else:
                kept.append(rec)
        # the task's shared calls (bootstrap share, labels, inputs) are split over its kept records
        share = [t // max(1, len(kept)) for t in task.tokens]
        for rec in kept:
            own = rec.meta.pop("_tokens", [0, 0])
            rec.meta["usage"] = {"prompt_tokens": own[0] + share[0], "completion_tokens": own[1] + share[1]}
            self.instance_chain.add(rec)
            outcomes.append(Outcome(rec, Verdict(True), "instance"))
        for o in outcomes:
            o.record.meta.pop("_tokens", None)
        return outcomes
