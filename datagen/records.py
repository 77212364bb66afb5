"""The one record type that flows from generator to filter to store to trainer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CORE_FIELDS = ("instruction", "input", "output", "id", "meta", "messages")


@dataclass
class Record:
    """An instruction example. Top-level fields are Alpaca's, so the JSONL loads as is.

    `messages` holds a multi-turn conversation (OpenAI roles) when there is one; the
    instruction/input/output fields then describe its first exchange (first user turn,
    first answer), so they never pair a question with another turn's answer.
    `extra` keeps any other fields of an input row, so they round-trip unchanged.
    """

    instruction: str
    input: str = ""
    output: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.id:
            self.id = self.content_id()

    def content_id(self) -> str:
        """A stable id from the content: the same example always gets the same id."""
        body = json.dumps(
            [self.instruction, self.input, self.output, self.messages],
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    @property
    def is_multi_turn(self) -> bool:
        return bool(self.messages) and sum(m.get("role") == "user" for m in self.messages) > 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(instruction=self.instruction, input=self.input, output=self.output, id=self.id)
        if self.messages is not None:
            out["messages"] = self.messages
        out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Record":
        extra = {k: v for k, v in row.items() if k not in CORE_FIELDS}
        return cls(
            instruction=row.get("instruction") or "",
            input=row.get("input") or "",
            output=row.get("output") or "",
            id=str(row.get("id") or ""),
            meta=dict(row.get("meta") or {}),
            messages=row.get("messages"),
            extra=extra,
        )
