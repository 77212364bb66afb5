"""Pipelined rounds: up to `depth` rounds of a generator in flight at once.

A round's requests (bootstrap, classify, instances) run in a worker thread; the round's
order-sensitive part (checking candidates against the pools) runs in round order through
`Turn`, and rounds are finished (instance rules, counting, yielding) in the main thread in
round order. So the next round's requests go out while this one's instances are being
made, and the kept set is deterministic for a given seed: it depends only on what earlier
rounds were when the round was planned, never on which reply came back first.

With depth 1 a round runs start to end in the calling thread: the strict order.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator


class Aborted(Exception):
    """Raised inside a round when the run no longer needs it (enough kept, an error)."""


class Turn:
    """The ordered section of one round: entered after the previous round's has ended."""

    def __init__(self, prev: threading.Event | None, abort: threading.Event):
        self.prev, self.done, self.abort = prev, threading.Event(), abort

    def check(self) -> None:
        """Between stages: stop here when the run no longer needs this round."""
        if self.abort.is_set():
            raise Aborted()

    def __enter__(self) -> "Turn":
        while self.prev is not None and not self.prev.wait(0.05):
            self.check()
        self.check()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()


class RoundPipeline:
    """`run(plan, work, finish)` yields what `finish` yields, round after round.

    - plan() -> args or None, in the main thread whenever a slot is free: the next round's
      inputs (a snapshot of the state it may use), or None to start no round now.
    - work(number, args, turn) -> result, in a worker (depth > 1) or inline (depth 1);
      order-sensitive steps go inside `with turn:`, and `turn.check()` between stages.
    - finish(number, result) -> iterator of outcomes, in the main thread, in round order.
    """

    def __init__(self, depth: int = 1):
        self.depth = max(1, int(depth))
        self.abort = threading.Event()

    def run(self, plan: Callable[[], Any], work: Callable[[int, Any, Turn], Any],
            finish: Callable[[int, Any], Iterator], stop: Callable[[], bool] = lambda: False,
            drain: Callable[[int, Any], Iterator] | None = None) -> Iterator:
        """... and after each finished round, `stop()` true ends the run: rounds still in
        flight stop at their next stage, and `drain(number, result)` yields what each had
        paid for (its result as far as it got), in round order."""
        if self.depth == 1:
            yield from self._run_inline(plan, work, finish, stop)
            return
        pool = ThreadPoolExecutor(max_workers=self.depth, thread_name_prefix="datagen-round")
        running: deque[tuple[int, Future]] = deque()
        last_turn: threading.Event | None = None
        number = 0
        try:
            while True:
                while len(running) < self.depth:
                    args = plan()
                    if args is None:
                        break
                    number += 1
                    turn = Turn(last_turn, self.abort)
                    last_turn = turn.done
                    running.append((number, pool.submit(_guarded, work, number, args, turn)))
                if not running:
                    return
                n, fut = running.popleft()
                yield from finish(n, fut.result())
                if stop():
                    self.abort.set()
                    for n, fut in running if drain is not None else ():
                        yield from drain(n, fut.result())
                    return
        finally:
            # enough kept, an error or Ctrl-C: rounds still in flight stop at their next stage
            self.abort.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_inline(self, plan, work, finish, stop) -> Iterator:
        number = 0
        while (args := plan()) is not None:
            number += 1
            result = work(number, args, Turn(None, self.abort))
            yield from finish(number, result)
            if stop():
                return


def _guarded(work, number, args, turn: Turn):
    try:
        return work(number, args, turn)
    finally:
        turn.done.set()  # a failed round must not block the next one's turn


def budget_room(client, st: dict, running: int) -> bool:
    """Under a cap, another round starts only when the rounds in flight and it fit in
    what is left, each costing what the finished ones did (before any has finished,
    one round at a time): rounds started past the cap would be paid for and abandoned."""
    ledger = client.usage.ledger
    if ledger is None or not ledger.budget:
        return True
    used = ledger.used()
    if used is None:
        return True
    if not st["finished"] or st.get("used_at_finish") is None:
        return False
    # what was spent when the last round finished, over the rounds finished: an upper
    # bound of a round's share (the rounds then in flight had spent some of it)
    per_round = st["used_at_finish"] / st["finished"]
    return used + per_round * (running + 1) <= 1.0
