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
