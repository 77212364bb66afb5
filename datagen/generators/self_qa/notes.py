"""Self-QA's run notes: a stage that dropped every candidate says why, with a hint."""

from __future__ import annotations

from collections import Counter

STAGE_HINTS = {
    "question": "try more --questions per chunk (extractive: more --question-samples), --lang matching "
                "the documents, or a larger model",
    "answer": "try --answer-mode extractive or a larger model",
    "instruction": "see rejects.jsonl for the rule; loosen it (e.g. --rouge, --no-embed) if it is wrong here",
}


def stage_note(stage: str, entered: int, drops: Counter, hint: str) -> str | None:
    """A note when a stage dropped every candidate it saw, naming the top reason."""
    if entered <= 0 or sum(drops.values()) < entered:
        return None
    reason, n = drops.most_common(1)[0]
    return f"{stage} stage dropped all {entered} (top: {reason} {n}): {hint}"
