"""Filters answer one question: `check(record) -> reason | None`.

None keeps the record; a string is the drop reason. Stateful filters (dedup) also get
`add(record)` for every record the chain keeps, and may describe their last decision in
`last_detail` (e.g. the most similar kept instruction and its score) for rejects and meta.
The chain, not the filters, counts reasons and collects rejects.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Protocol, runtime_checkable

from ..records import Record


@runtime_checkable
class Filter(Protocol):
    name: str

    def check(self, record: Record) -> str | None: ...


@dataclass
class Verdict:
    kept: bool
    reason: str | None = None
    filter: str | None = None
    detail: dict = field(default_factory=dict)


class FilterChain:
    """Runs filters in order; the first reason drops the record. Kept records are
    added to every stateful filter so later candidates are compared with them."""

    def __init__(self, filters: Iterable[Filter]):
        self.filters = list(filters)
        self.seen = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()

    def add(self, record: Record) -> None:
        """Add a record to the pools (seeds, parent version) without checking it."""
        for f in self.filters:
            if hasattr(f, "add"):
                f.add(record)

    def add_many(self, records: Iterable[Record]) -> None:
        records = list(records)
        for f in self.filters:
            if hasattr(f, "add_many"):
                f.add_many(records)
            elif hasattr(f, "add"):
                for r in records:
                    f.add(r)

    def check(self, record: Record, keep: bool = True) -> Verdict:
        """Decide on one record; when kept (and `keep`), add it to the pools."""
        self.seen += 1
        detail: dict = {}
        for f in self.filters:
            reason = f.check(record)
            detail.update(getattr(f, "last_detail", None) or {})
            if reason:
                self.dropped[reason] += 1
                return Verdict(False, reason, f.name, detail)
        self.kept += 1
        if keep:
            self.add(record)
        return Verdict(True, None, None, detail)

    def funnel(self) -> dict:
        return {"seen": self.seen, "kept": self.kept, "dropped": dict(self.dropped.most_common())}
