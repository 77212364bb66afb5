"""Self-Instruct's classification identification: is each new task a classification task?
One fixed-choice call per task (never a silent default), optionally calibrated."""

from __future__ import annotations

from typing import Iterator, Sequence

from ...llm.base import ChatClient, Choice
from ...llm.ledger import NOT_ASKED
from ...records import Record
from ..base import Outcome, surplus
from . import prompts as P
from .demand import task_record
from .tasks import Task


def clf_examples(gen) -> list[tuple[str, bool]]:
    """Labelled seeds as few-shot examples (balanced), when there are both kinds."""
    rng, k = gen.rng("clf-examples"), gen.config.clf_shots
    yes = [s.instruction for s in gen.seeds if s.is_clf is True]
    no = [s.instruction for s in gen.seeds if s.is_clf is False]
    if not yes or not no:
        return []
    shots = [(t, True) for t in rng.sample(yes, min(k, len(yes)))]
    shots += [(t, False) for t in rng.sample(no, min(k, len(no)))]
    rng.shuffle(shots)
    return shots


def classify(gen, client: ChatClient, instructions: Sequence[str]) -> list[Choice]:
    """Is each instruction a classification task? One Choice per instruction (option
    None only when an API reply named no option).

    Likelihood scores of a small model lean toward one answer whatever the task; with
    `calibrate` the decision is made against the scores of a content-free task "N/A"
    (contextual calibration, Zhao et al. 2021) where the backend gives scores. On
    SmolLM2-135M neither way is reliable (see docs/self_instruct.md), so it is off."""
    shots = clf_examples(gen)
    items = [(P.clf_prompt(t, shots, gen.lang), "") for t in instructions]
    calibrate = gen.config.calibrate
    if calibrate:
        items.append((P.clf_prompt("N/A", shots, gen.lang), ""))
    choices: list[Choice] = client.choose_many(items, P.CLF_OPTIONS)
    if not calibrate:
        return choices
    base = choices.pop()
    if not all(o in base.scores for o in P.CLF_OPTIONS):
        return choices
    out = []
    for ch in choices:
        if all(o in ch.scores for o in P.CLF_OPTIONS):
            adj = {o: ch.scores[o] - base.scores[o] for o in P.CLF_OPTIONS}
            ch = Choice(option=max(adj, key=adj.get), scores=adj, raw=ch.raw)
        out.append(ch)
    return out


def classify_tasks(gen, client: ChatClient, tasks: list[Task]) -> Iterator[Outcome]:
    """Classify a round's tasks in place (task_type); a task no option answered is dropped."""
    if not tasks:
        return
    choices = classify(gen, client, [t.instruction for t in tasks])
    unanswered = []
    for task, choice in zip(tasks, choices):
        gen.report.count("classified")
        if choice.option is None:
            unanswered.append(task)
            if choice.raw == NOT_ASKED:  # the cap refused its classification: paid bootstrap share, surplus
                yield surplus(task_record(gen, client, task), "classify", "the cap stopped its round")
                continue
            rec = Record(instruction=task.instruction, meta=gen.meta(client, task))
            yield gen.reject(rec, "clf_unanswered", "classify", "classify",
                             {"raw": choice.raw[:200], "options": list(P.CLF_OPTIONS)})
            continue
        task.task_type = "classification" if choice.option == P.CLF_OPTIONS[0] else "generation"
        gen.report.count(f"classified_{task.task_type}")
    for t in unanswered:
        tasks.remove(t)
