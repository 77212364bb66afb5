"""What Self-Instruct's stages pass between them: seed tasks and the round's new tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...llm.base import Completion


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
