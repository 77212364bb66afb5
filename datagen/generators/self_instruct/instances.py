"""Self-Instruct instance generation for one round's tasks.

Classification tasks go output-first: ask for the class labels, then for an input that
has each label as its answer, so the inputs are not skewed toward one label. Other tasks
go input-first: sample inputs (possibly none needed), then answer the task on each
input. Tasks whose sampled shape has several user turns continue as a conversation: a
follow-up user message, then the answer, until the turns are done.

Requests of the same step are sent together (chat_many), across all of the round's tasks.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...llm import stages
from ...llm.base import ChatClient, ChatRequest
from ...llm.reasoning import trace_meta
from ...records import Record
from . import prompts as P
from ..base import Outcome
from .tasks import Task, tokens

def _tokens(comps) -> list[int]:
    return list(tokens(comps))


class SelfInstructLike(Protocol):
    """What the instance stage uses of the generator that owns it."""

    config: Any
    lang: str
    seeds: list

    def meta(self, client: ChatClient, task: Task | None, **extra) -> dict: ...
    def reject(self, record: Record, reason: str, stage: str, filter: str | None = None,
               detail: dict | None = None) -> Outcome: ...
    def request_seed(self, *parts) -> int: ...
    def rng(self, *parts): ...


class InstanceBuilder:
    def __init__(self, gen: SelfInstructLike, client: ChatClient):
        self.gen, self.client = gen, client
        self.cfg, self.lang = gen.config, gen.lang
        self.stops = P.STOPS[gen.lang]
        self.out: dict[str, tuple[list[Record], list[Outcome]]] = {}

    def build(self, tasks: list[Task]) -> dict[str, tuple[list[Record], list[Outcome]]]:
        """{task id: (candidate records, rejects)}; candidates still face the instance rules."""
        for t in tasks:
            self.out[t.id] = ([], [])
        self._classification([t for t in tasks if t.task_type == "classification"])
        gen = [t for t in tasks if t.task_type == "generation"]
        if self.cfg.instance_mode == "joint":
            self._joint(gen)
        else:
            self._generation(gen)
        return self.out

    # -- helpers ----------------------------------------------------------------------
    def _record(self, task, input: str = "", output: str = "", tokens=(0, 0), **meta) -> Record:
        m = self.gen.meta(self.client, task, **meta)
        m["prompt_templates"] = self._templates(task, input, m.get("turns", 1))
        m["_tokens"] = list(tokens)  # this record's own calls; the generator turns it into usage
        return Record(instruction=task.instruction, input=input, output=output, meta=m)

    def _templates(self, task, input: str, turns: int) -> dict[str, str]:
        """{template ref: sha} of the prompts this record came from."""
        names = ["self_instruct_bootstrap", "self_instruct_clf"]
        if task.task_type == "classification":
            names += ["self_instruct_labels", "self_instruct_clf_input"]
        elif self.cfg.instance_mode == "joint":
            names.append("self_instruct_instances")
        else:
            names += ["self_instruct_input",
                      "self_instruct_output_with_input" if input.strip() else "self_instruct_output"]
            if turns > 1:
                names.append("self_instruct_followup")
        return {P.template(n, self.lang).ref: P.template(n, self.lang).sha for n in names}

    def _drop(self, task, rec: Record, reason: str, detail: dict | None = None) -> None:
        self.out[task.id][1].append(self.gen.reject(rec, reason, "instance", "instance_gen", detail))

    def _keep(self, task, rec: Record) -> None:
        self.out[task.id][0].append(rec)

    def _chat(self, reqs: list[ChatRequest], desc: stages.Stage):
        return self.client.chat_many(reqs, desc=desc) if reqs else []

    # -- classification: labels first, then an input per label ------------------------
    def _classification(self, tasks) -> None:
        cfg = self.cfg
        reqs = [ChatRequest.make(P.labels_prompt(t.instruction, cfg.instances, self.lang), temperature=0.0,
                                 max_tokens=96, stop=self.stops["labels"], seed=self.gen.request_seed("labels", t.id)) for t in tasks]
        jobs = []
        for task, comps in zip(tasks, self._chat(reqs, stages.CLASS_LABELS)):
            comp = comps[0]
            task.tokens = [a + b for a, b in zip(task.tokens, _tokens(comps))]
            labels = P.parse_labels(comp.text, cfg.instances, truncated=comp.finish_reason == "length")
            if not labels:
                rec = self._record(task, instance_order="output-first")
                self._drop(task, rec, "no_labels", {"raw": comp.text[:200]})
                continue
            for label in labels:
                jobs.append((task, label, labels))
        reqs = [ChatRequest.make(P.clf_input_prompt(t.instruction, label, self.lang),
                                 temperature=cfg.instance_temperature, top_p=cfg.top_p,
                                 max_tokens=cfg.instance_max_tokens, stop=self.stops["clf_input"],
                                 seed=self.gen.request_seed("clf-input", t.id, label))
                for t, label, _ in jobs]
        for (task, label, labels), comps in zip(jobs, self._chat(reqs, stages.INPUTS_PER_LABEL)):
            comp = comps[0]
            inp = P.parse_input(comp.text)
            rec = self._record(task, inp, label, _tokens(comps), instance_order="output-first", labels=labels)
            if comp.finish_reason == "length":
                self._drop(task, rec, "input_truncated")
            elif not inp:
                self._drop(task, rec, "empty_input")
            else:
                self._keep(task, rec)

    # -- generation, joint: a task's examples (input + output) in one reply -------------
    def _joint(self, tasks) -> None:
        cfg = self.cfg
        reqs = []
        for t in tasks:
            t.turns = 1
            messages, prefill = P.instances_prompt(t.instruction, cfg.instances, self.lang)
            reqs.append(ChatRequest.make(messages, temperature=cfg.instance_temperature, top_p=cfg.top_p,
                                         max_tokens=cfg.instances * (cfg.instance_max_tokens + cfg.answer_max_tokens) // 2,
                                         stop=self.stops["instances"], prefill=prefill,
                                         seed=self.gen.request_seed("instances", t.id)))
        for task, comps in zip(tasks, self._chat(reqs, stages.INSTANCES)):
            comp = comps[0]
            cut = comp.finish_reason == "length"
            pairs = P.parse_examples(comp.text, truncated=cut)[: cfg.instances]
            share = [v // max(1, len(pairs)) for v in _tokens(comps)]
            if not comp.reasoning_closed:  # cut off while thinking: whatever follows is not its answer
                self._drop(task, self._record(task, instance_order="joint"), "reasoning_truncated")
                continue
            if not pairs:
                rec = self._record(task, instance_order="joint")
                self._drop(task, rec, "output_truncated" if cut else "no_instances", {"raw": comp.text[:200]})
                continue
            # a trace here thought about all the examples at once: it is no one record's
            # reasoning, so it is not kept as meta.reasoning (docs/reasoning.md)
            seen: set[str] = set()
            for inp, out in pairs:
                rec = self._record(task, inp, out, share, instance_order="joint")
                if inp.strip() in seen:
                    self._drop(task, rec, "duplicate_input")
                else:
                    seen.add(inp.strip())
                    self._keep(task, rec)

    # -- generation: inputs first, then answers ----------------------------------------
    def _generation(self, tasks) -> None:
        cfg = self.cfg
        shapes = [s.turns for s in self.gen.seeds]
        for t in tasks:
            t.turns = self.gen.rng("turns", t.id).choice(shapes) if cfg.multi_turn else 1
        reqs = [ChatRequest.make(P.input_prompt(t.instruction, self.lang), n=cfg.instances,
                                 temperature=cfg.instance_temperature, top_p=cfg.top_p,
                                 max_tokens=cfg.instance_max_tokens, stop=self.stops["input"],
                                 seed=self.gen.request_seed("input", t.id))
                for t in tasks]
        jobs: list[tuple[object, str]] = []
        for task, comps in zip(tasks, self._chat(reqs, stages.INSTANCE_INPUTS)):
            task.tokens = [a + b for a, b in zip(task.tokens, _tokens(comps))]
            seen: set[str] = set()
            for comp in comps:
                inp = P.parse_input(comp.text)
                if comp.finish_reason == "length":
                    self._drop(task, self._record(task, inp, instance_order="input-first"), "input_truncated")
                elif inp.strip() in seen:
                    # the same input would get the same answer: one instance is enough
                    self._drop(task, self._record(task, inp, instance_order="input-first"), "duplicate_input")
                else:
                    seen.add(inp.strip())
                    jobs.append((task, inp))
        convs = [P.output_prompt(t.instruction, inp, self.lang) for t, inp in jobs]
        own = [[0, 0] for _ in jobs]
        traces: list[dict] = [{} for _ in jobs]  # the first answer's reasoning trace (meta.reasoning)
        alive = list(range(len(jobs)))
        turn = 1
        while alive:
            reqs = [ChatRequest.make(convs[j], temperature=cfg.answer_temperature, top_p=cfg.top_p,
                                     max_tokens=cfg.answer_max_tokens,
                                     seed=self.gen.request_seed("answer", jobs[j][0].id, jobs[j][1], turn))
                    for j in alive]
            still = []
            for j, comps in zip(alive, self._chat(reqs, stages.answers_turn(turn))):
                task, inp = jobs[j]
                comp = comps[0]
                own[j] = [a + b for a, b in zip(own[j], _tokens(comps))]
                answer = P.parse_output(comp.text)
                if turn == 1:
                    traces[j] = trace_meta(comp)
                if comp.finish_reason == "length" or not comp.reasoning_closed:
                    if turn == 1:
                        rec = self._record(task, inp, answer, own[j], instance_order="input-first", **traces[j])
                        self._drop(task, rec, "output_truncated" if comp.reasoning_closed else "reasoning_truncated")
                    else:  # keep the conversation up to its last complete answer
                        self._finish(task, inp, convs[j][:-1], own[j], traces[j])
                    continue
                convs[j] = convs[j] + [{"role": "assistant", "content": answer}]
                if turn < task.turns and answer:
                    still.append(j)
                else:
                    self._finish(task, inp, convs[j], own[j], traces[j])
            alive = self._followups(jobs, convs, own, still, turn, traces)
            turn += 1

    def _followups(self, jobs, convs, own, alive: list[int], turn: int, traces: list[dict]) -> list[int]:
        """Ask for the next user message of each live conversation; those without one end."""
        cfg = self.cfg
        reqs = [ChatRequest.make(P.followup_prompt(convs[j], self.lang), temperature=cfg.instance_temperature,
                                 top_p=cfg.top_p, max_tokens=cfg.instance_max_tokens, stop=self.stops["followup"],
                                 seed=self.gen.request_seed("followup", jobs[j][0].id, jobs[j][1], turn))
                for j in alive]
        nxt = []
        for j, comps in zip(alive, self._chat(reqs, stages.followups_turn(turn + 1))):
            own[j] = [a + b for a, b in zip(own[j], _tokens(comps))]
            text = P.parse_followup(comps[0].text)
            if comps[0].finish_reason == "length" or not text:
                self._finish(jobs[j][0], jobs[j][1], convs[j], own[j], traces[j])
                continue
            convs[j] = convs[j] + [{"role": "user", "content": text}]
            nxt.append(j)
        return nxt

    def _finish(self, task, inp: str, conv: list[dict], tokens, trace: dict) -> None:
        answers = [m["content"] for m in conv if m["role"] == "assistant"]
        # the flat fields are the first exchange (task + input -> first answer); messages hold it all
        rec = self._record(task, inp, answers[0] if answers else "", tokens, instance_order="input-first",
                           turns=sum(m["role"] == "user" for m in conv), **trace)
        if rec.meta["turns"] > 1:
            rec.messages = [dict(m) for m in conv]
            # the first turn was our answer prompt ("…\n\nInput:\n…"); a user writes the task
            # and its input, as the exports join them
            rec.messages[0]["content"] = task.instruction + ("\n\n" + inp if inp.strip() else "")
            rec.id = rec.content_id()
        self._keep(task, rec)

