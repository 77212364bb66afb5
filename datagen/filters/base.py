"""Filters answer one question per record: a drop reason, or None to keep it.

Every filter subclasses `Filter` (as datatrove's filters do `BaseFilter`): it sets `name`
and writes `check(record) -> reason | None`; the rest has defaults it may override:
- `check_many(records) -> [reason | None]`: the batch form (a model-calling scorer sends
  a batch concurrently); by default `check` per record. It leaves the details of its
  decisions in `last_details`, as `check` leaves one in `last_detail` (shown with rejects).
- `stateful = True`: a dedup filter keeps a pool (`add(record)`, `add_many(records)`),
  and the chain adds every record it keeps, so later candidates are compared with it.
  `prepare(records)` may do the expensive part of its checks for a batch at once (the
  embedding filter encodes them in one call); `describe(record) -> dict` says what to
  record in meta about a kept record (its most similar kept instruction), asked just
  before the record joins the pool.
- `prefetch(records) -> records`: the model work of checking `records` ahead of time,
  from any thread (encoding, judging); returns the records later filters need to see.
- `deferred = True`: a model-backed check a pipelined generator may run after the cheap
  ones, when the candidate's other work is already under way (embedding dedup).
- `warm_up()`: start loading a model in the background (the runner calls it first).

The chain decides; it does not count. Callers count the verdicts they get back, once
(`funnel`), so a drop is never counted in two places.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from ..records import Record

_NO_DETAIL: Mapping = MappingProxyType({})


class Filter:
    """The base of every filter: `name` and `check`, and no-op defaults for the rest."""

    name: str = ""
    stateful: bool = False
    deferred: bool = False
    last_detail: Mapping = _NO_DETAIL  # about the last `check`
    last_details: Sequence[Mapping] = ()  # about each record of the last `check_many`

    def check(self, record: Record) -> str | None:
        raise NotImplementedError

    def check_many(self, records: Sequence[Record]) -> list[str | None]:
        reasons, details = [], []
        for r in records:
            reasons.append(self.check(r))
            details.append(dict(self.last_detail))
        self.last_details = details
        return reasons

    def add(self, record: Record) -> None:
        pass

    def add_many(self, records: Iterable[Record]) -> None:
        for r in records:
            self.add(r)

    def prepare(self, records: Sequence[Record]) -> None:
        pass

    def prefetch(self, records: Sequence[Record]) -> list[Record]:
        """By default a stateless filter checks `records` now, and passes on those it keeps."""
        if self.stateful:
            return list(records)
        return [r for r, reason in zip(records, self.check_many(records)) if not reason]

    def warm_up(self) -> None:
        pass

    def describe(self, record: Record) -> dict:
        return {}


@dataclass
class Verdict:
    kept: bool
    reason: str | None = None
    filter: str | None = None
    detail: dict = field(default_factory=dict)


def _check_batch(f: Filter, records: Sequence[Record]) -> list[tuple[str | None, dict]]:
    """(reason, detail) per record from one stateless filter."""
    reasons = list(f.check_many(records))
    details = [dict(d) for d in f.last_details] or [{} for _ in records]
    return list(zip(reasons, details))


class FilterChain:
    """Runs filters in order; the first reason drops the record. Kept records are
    added to every stateful filter so later candidates are compared with them."""

    def __init__(self, filters: Iterable[Filter]):
        self.filters = list(filters)

    def split_deferred(self) -> tuple["FilterChain", "FilterChain"]:
        """(cheap, deferred): the filters marked `deferred = True` (model-backed checks
        that may lag behind the requests) apart from the rest, each in chain order. Both
        share the filter objects, so pools stay one."""
        late = [f for f in self.filters if f.deferred]
        return FilterChain([f for f in self.filters if f not in late]), FilterChain(late)

    def warm_up(self) -> None:
        """Let filters with a model start loading it in the background now."""
        for f in self.filters:
            f.warm_up()

    def prefetch(self, records: Sequence[Record]) -> None:
        """Do the model work of checking `records` ahead of time (encoding, judging), from
        any thread; the decisions are still check_many's, in order. Each filter prefetches
        only what the stateless rules before it keep."""
        alive = list(records)
        for f in self.filters:
            if not alive:
                return
            alive = f.prefetch(alive)

    def add(self, record: Record) -> None:
        """Add a record to the pools (seeds, parent version) without checking it."""
        for f in self.filters:
            if f.stateful:
                f.add(record)

    def add_many(self, records: Iterable[Record]) -> None:
        records = list(records)
        for f in self.filters:
            if f.stateful:
                f.add_many(records)

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
            if f.stateful:
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
            if f.stateful and survivors:
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
            if not f.stateful:
                continue
            reason = f.check(rec)
            detail.update(f.last_detail)
            if reason:
                return Verdict(False, reason, f.name, detail)
        if describe:
            for f in self.filters:
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
