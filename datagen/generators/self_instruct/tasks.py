"""What Self-Instruct's stages pass between them: seed tasks and the round's new tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...llm.base import Completion
from ...records import Record


@dataclass
class Seed:
    id: str
    instruction: str
    is_clf: bool | None
    turns: int


@dataclass
class Task:
    id: str
    instruction: str
    round: int
    examples: list[str]
    similarity: dict
    tokens: list[int]  # [prompt, completion] spent on this task so far
    task_type: str | None = None
    turns: int = 1


def tokens(comps: Sequence[Completion]) -> tuple[int, int]:
    """Usage of one request: its first completion carries the prompt tokens."""
    if not comps:
        return 0, 0
    return comps[0].prompt_tokens, sum(c.completion_tokens for c in comps)


def type_notes(counts: dict) -> list[str]:
    """Why a run has no classification (or no generation) task, from its report counts."""
    notes = []
    for tt in ("classification", "generation"):
        if counts.get(f"tasks_{tt}", 0) or not counts.get("tasks", 0):
            continue
        found = counts.get(f"classified_{tt}", 0)
        if not found:
            notes.append(f"no {tt} task: none of the {counts.get('classified', 0)} new "
                         f"instructions was judged a {tt} task")
        else:
            notes.append(f"no {tt} task survived: {found} instructions were judged {tt} "
                         f"but none kept an instance (see rejects, stage 'instance')")
    return notes


def unique_seeds(records: Sequence[Record]) -> list[Seed]:
    """One seed per instruction (a self-instruct seed row reads as one record per instance)."""
    out: dict[str, Seed] = {}
    for r in records:
        key = r.instruction.strip()
        if not key or key in out:
            continue
        tt = r.meta.get("task_type")
        turns = sum(m.get("role") == "user" for m in r.messages) if r.messages else 1
        out[key] = Seed(id=str(r.meta.get("task_id") or r.id), instruction=key,
                         is_clf=None if tt is None else tt == "classification", turns=max(1, turns))
    return list(out.values())
