"""FilterChain.check_many: the batch entry point every generator uses on a round."""

from __future__ import annotations

import random

from datagen.filters import FilterConfig, build_chain, funnel
from datagen.filters.base import Filter, FilterChain
from datagen.records import Record

WORDS = "tips healthy water cycle poem autumn leaves write give three describe explain list the a of for".split()


def texts(n, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(2, 9)
        out.append(" ".join(rng.choice(WORDS) for _ in range(k)) + ("." if i % 3 else ""))
    return out


def test_batch_verdicts_equal_one_by_one():
    """Same reasons, same pools, whatever mix of stateless and dedup filters."""
    recs = [Record(t) for t in texts(300)]
    one, batch = build_chain(FilterConfig(embed=None, rouge=0.5), "en"), build_chain(FilterConfig(embed=None, rouge=0.5), "en")
    seq = [one.check(r) for r in recs]
    many = batch.check_many(recs)
    assert [(v.kept, v.reason, v.filter) for v in seq] == [(v.kept, v.reason, v.filter) for v in many]
    assert 0 < funnel(many)["kept"] < len(recs) and "rouge_dup" in funnel(many)["dropped"]


class CountingStateless(Filter):
    """A stateless batch filter (as a model-calling scorer is): records what it was sent."""

    name = "counting"

    def __init__(self):
        self.batches: list[list[str]] = []

    def check_many(self, records):
        self.batches.append([r.instruction for r in records])
        return ["has_x" if "x" in r.instruction else None for r in records]

    def check(self, record):
        raise AssertionError("the chain must use check_many")


class Pool(Filter):
    """A stateful exact-dedup filter."""

    name = "pool"
    stateful = True

    def __init__(self):
        self.seen: set[str] = set()

    def check(self, record):
        return "dup" if record.instruction in self.seen else None

    def add(self, record):
        self.seen.add(record.instruction)

    def describe(self, record):
        return {"pool_size": len(self.seen)}


def test_stateless_batch_sees_only_what_cheaper_filters_kept():
    class Short(Filter):
        name = "short"

        def check(self, record):
            return "too_short" if len(record.instruction) < 3 else None

    counting = CountingStateless()
    chain = FilterChain([Short(), counting, Pool()])
    vs = chain.check_many([Record("ab"), Record("abc"), Record("xyz"), Record("abc"), Record("def")],
                          describe=True)
    assert counting.batches == [["abc", "xyz", "abc", "def"]]  # one call, survivors only
    assert [v.reason for v in vs] == ["too_short", None, "has_x", "dup", None]
    assert vs[1].detail == {"pool_size": 0} and vs[4].detail == {"pool_size": 1}


def test_reason_is_the_first_filter_in_order():
    """A stateful filter before a stateless one names the drop even though the stateless
    ran first in the batch."""
    counting = CountingStateless()
    chain = FilterChain([Pool(), counting])
    vs = chain.check_many([Record("abx"), Record("abx")])
    assert [v.reason for v in vs] == ["has_x", "has_x"]
    vs = FilterChain([Pool(), CountingStateless()]).check_many([Record("ab"), Record("ab")])
    assert [v.reason for v in vs] == [None, "dup"]


def test_limit_stops_checking_once_enough_are_kept():
    pool = Pool()
    chain = FilterChain([pool])
    vs = chain.check_many([Record(t) for t in ("a", "a", "b", "c", "d")], limit=2)
    assert [None if v is None else v.reason for v in vs] == [None, "dup", None, None, None]
    assert vs[3] is None and vs[4] is None and pool.seen == {"a", "b"}


def test_keep_false_pools_nothing():
    pool = Pool()
    vs = FilterChain([pool]).check_many([Record("a"), Record("a")], keep=False)
    assert [v.kept for v in vs] == [True, True] and pool.seen == set()
