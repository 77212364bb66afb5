"""Deduplication against a dataset's parent version (a refresh publishes parent + new)."""

from __future__ import annotations

from typing import Sequence

from ..records import Record
from .base import Filter


class ParentDuplicate(Filter):
    """Drops a candidate whose (instruction, input) — or conversation — is already in the
    parent or was kept earlier in this run. Cheap, and it holds even with ROUGE off."""

    name = "parent_duplicate"
    stateful = True

    def __init__(self, parent: Sequence[Record] = ()):
        self._seen: set[str] = set()
        self._parent: set[str] = set()
        self.last_detail: dict = {}
        self.add_parent(parent)

    @staticmethod
    def key(r: Record) -> str:
        if r.messages and r.is_multi_turn:
            return "m:" + "\x1f".join(m.get("content", "").strip() for m in r.messages)
        return "i:" + " ".join(r.instruction.lower().split()) + "\x1f" + " ".join(r.input.split())

    def add_parent(self, records: Sequence[Record]) -> None:
        self._parent.update(self.key(r) for r in records)

    def check(self, record: Record) -> str | None:
        k = self.key(record)
        if k in self._parent:
            return "parent_duplicate"
        if k in self._seen:
            return "exact_duplicate"
        return None

    def add(self, record: Record) -> None:
        self._seen.add(self.key(record))
