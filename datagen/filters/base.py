"""Filters answer one question per record: a drop reason, or None to keep it.

A filter has `name` and `check(record) -> reason | None`. Optional members:
- `check_many(records) -> [reason | None]`: the batch form (a model-calling scorer sends
  a batch concurrently); filters without it are called per record.
- `add(record)` / `add_many(records)`: a stateful filter (dedup) keeps a pool, and the
  chain adds every record it keeps, so later candidates are compared with it.
- `prepare(records)`: a stateful filter that can do the expensive part of its checks
  for a whole batch at once (the embedding filter encodes them in one call).
- `deferred = True`: a model-backed check a pipelined generator may run after the cheap
  ones, when the candidate's other work is already under way (embedding dedup).
- `warm_up()`: start loading a model in the background (the runner calls it first).
- `describe(record) -> dict`: what to record in meta about a kept record (e.g. its most
  similar kept instruction), asked just before the record joins the pool.
- `last_detail`: a dict describing the last decision (shown with rejects).

The chain decides; it does not count. Callers count the verdicts they get back, once
(`funnel`), so a drop is never counted in two places.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence, runtime_checkable

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


def _stateful(f) -> bool:
    return hasattr(f, "add")


def _check_batch(f, records: Sequence[Record]) -> list[tuple[str | None, dict]]:
    """(reason, detail) per record from one stateless filter, batched where it can."""
    if hasattr(f, "check_many"):
        reasons = list(f.check_many(records))
        details = list(getattr(f, "last_details", None) or [{}] * len(records))
        return list(zip(reasons, details))
    out = []
    for r in records:
        reason = f.check(r)
        out.append((reason, dict(getattr(f, "last_detail", None) or {})))
    return out


class FilterChain:
    """Runs filters in order; the first reason drops the record. Kept records are
    added to every stateful filter so later candidates are compared with them."""

    def __init__(self, filters: Iterable[Filter]):
        self.filters = list(filters)

    def split_deferred(self) -> tuple["FilterChain", "FilterChain"]:
        """(cheap, deferred): the filters marked `deferred = True` (model-backed checks
        that may lag behind the requests) apart from the rest, each in chain order. Both
        share the filter objects, so pools stay one."""
        late = [f for f in self.filters if getattr(f, "deferred", False)]
        return FilterChain([f for f in self.filters if f not in late]), FilterChain(late)

    def warm_up(self) -> None:
        """Let filters with a model start loading it in the background now."""
        for f in self.filters:
            if hasattr(f, "warm_up"):
                f.warm_up()

    def prefetch(self, records: Sequence[Record]) -> None:
        """Do the model work of checking `records` ahead of time (filters with a `prefetch`:
        encoding, judging), from any thread; the decisions are still check_many's, in order.
        Each filter prefetches only what the stateless rules before it keep."""
        alive = list(records)
        for f in self.filters:
            if not alive:
                return
            if hasattr(f, "prefetch"):
                f.prefetch(alive)
            elif not _stateful(f):
                alive = [r for r, (reason, _) in zip(alive, _check_batch(f, alive)) if not reason]

    def add(self, record: Record) -> None:
        """Add a record to the pools (seeds, parent version) without checking it."""
        for f in self.filters:
            if _stateful(f):
                f.add(record)

    def add_many(self, records: Iterable[Record]) -> None:
        records = list(records)
        for f in self.filters:
            if hasattr(f, "add_many"):
                f.add_many(records)
            elif _stateful(f):
                for r in records:
                    f.add(r)

    def check(self, record: Record, keep: bool = True) -> Verdict:
        """Decide on one record; when kept (and `keep`), add it to the pools."""
        return self.check_many([record], keep=keep)[0]

    def check_many(self, records: Sequence[Record], keep: bool = True, describe: bool = False,
                   limit: int | None = None) -> list[Verdict | None]:
        """Decide on a batch, with the same verdicts as checking the records one by one in
        order (each kept record joins the pools before the next is checked).

        Stateless filters run first over the whole batch (each only on what the cheaper
        ones before it kept); stateful filters then `prepare` the survivors at once and
        decide in order. With `describe`, a kept record's detail also holds what the
        filters say about it (most similar kept instruction). With `limit`, checking stops
        once that many are kept: the rest get None (not checked, not pooled)."""
        records = list(records)
        n = len(records)
        # 1. stateless filters, batched: first_drop[i] = (position, reason, detail)
        first_drop: dict[int, tuple[int, str, dict]] = {}
        details: list[dict] = [{} for _ in range(n)]
        for pos, f in enumerate(self.filters):
            if _stateful(f):
                continue
            alive = [i for i in range(n) if i not in first_drop]
            if not alive:
                break
            for i, (reason, detail) in zip(alive, _check_batch(f, [records[i] for i in alive])):
                if reason:
                    first_drop[i] = (pos, reason, detail)
                elif detail:
                    details[i].update(detail)
        # 2. stateful filters: batch preparation, then in order
        survivors = [records[i] for i in range(n) if i not in first_drop]
        for f in self.filters:
            if _stateful(f) and hasattr(f, "prepare") and survivors:
                f.prepare(survivors)
        out: list[Verdict | None] = []
        kept = 0
        for i, rec in enumerate(records):
            if limit is not None and kept >= limit:
                out.append(None)
                continue
            out.append(self._decide(rec, first_drop.get(i), details[i], keep, describe))
            kept += out[-1].kept
        return out

    def _decide(self, rec: Record, drop, detail: dict, keep: bool, describe: bool) -> Verdict:
        for pos, f in enumerate(self.filters):
            if drop is not None and pos == drop[0]:
                return Verdict(False, drop[1], f.name, {**detail, **drop[2]})
            if not _stateful(f):
                continue
            reason = f.check(rec)
            detail.update(getattr(f, "last_detail", None) or {})
            if reason:
                return Verdict(False, reason, f.name, detail)
        if describe:
            for f in self.filters:
                if hasattr(f, "describe"):
                    detail.update(f.describe(rec))
        if keep:
            self.add(rec)
        return Verdict(True, None, None, detail)


def funnel(verdicts: Iterable[Verdict]) -> dict:
    """{seen, kept, dropped: {reason: n}} — the one count of a batch of verdicts."""
    dropped: Counter[str] = Counter()
    seen = kept = 0
    for v in verdicts:
        seen += 1
        if v.kept:
            kept += 1
        else:
            dropped[v.reason] += 1
    return {"seen": seen, "kept": kept, "dropped": dict(dropped.most_common())}
