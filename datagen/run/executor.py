"""Where a run's generator work happens: `local` (this process, `gen.generate`) or `ray`
(the input's blocks as Ray tasks, for generators with a `blocks()` / `run_block()` pair:
Self-QA, Self-KG; see datagen/generators/blocks.py).

With `ray` the driver keeps everything global: it takes block results in block order,
lets the generator drop what only the whole run sees (`accept_block`), passes the
candidates through the one filter chain (`chain.check_many`, exact ROUGE/embedding dedup
against everything kept), and stops once `num` are kept. Requests are seeded per item,
never per worker, so `local` and `ray` keep the same records for the same config and seed.

Each worker process builds its own client from the LLMConfig (its own async client over
the endpoint pool). The response cache: a worker reads the run's cache file read-only
(when its node can see it) and keeps the answers it had to ask for in memory; they come
back with the block and the driver writes them into the cache. One writer, and a block
whose worker died leaves nothing behind: Ray retries it (max_retries) and only the
attempt that returned counts, so nothing is duplicated.

Self-QA's document conversion (cache misses, while the generator is built) runs as one
Ray task per file through `RayExecutor.map` (run/job.py `make_generator`).

Scoring (`datagen score --executor ray`) goes through the same scheduler (`InOrder`):
the version's records in blocks of `score.block`, each block a task
(`score_block_task`) whose scores the driver writes into its records in block order.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from ..generators.base import Outcome
from ..generators.blocks import CANDIDATE_STAGE, BlockWork, digest
from .ray_worker import WorkerCache, run_block_task, score_block_task  # noqa: F401 (WorkerCache re-exported)

TASK_RETRIES = 3  # a block whose worker process died runs again (Ray task max_retries)


class LocalExecutor:
    name = "local"

    def outcomes(self, gen, client, chain, num: int) -> Iterator[Outcome]:
        return gen.generate(client, chain, num)


class RayExecutor:
    """Blocks as Ray tasks, at most `workers` in flight; results taken in block order."""

    name = "ray"

    def __init__(self, llm_cfg, address: str | None = None, workers: int | None = None,
                 retries: int = TASK_RETRIES):
        import dataclasses

        from ..llm.cache import default_cache_path

        # the cache file is named here: a worker's environment may say another place
        self.llm_cfg = dataclasses.replace(llm_cfg, cache_path=llm_cfg.cache_path or str(default_cache_path()))
        self.address = address
        self.workers = workers
        self.retries = retries

    def outcomes(self, gen, client, chain, num: int) -> Iterator[Outcome]:
        if not isinstance(gen, BlockWork):
            # Self-Instruct: each round samples from the pool the last one grew, so the
            # rounds cannot run apart; its requests still go out concurrently from here
            gen.report.notes.append(f"--executor ray: {gen.name} has no independent input blocks; "
                                    "it ran on the driver")
            yield from gen.generate(client, chain, num)
            return
        ray, started = self._connect()
        try:
            yield from self._run(ray, gen, client, chain, num)
        finally:
            if started:
                ray.shutdown()

    def map(self, fn, items: list) -> list:
        """`fn` over `items`, one Ray task each, results in order: CPU-bound input work of a
        generator being built (Self-QA's document conversion, io/convert.py). A Ray started
        here stops here; the run's blocks start it again."""
        if not items:
            return []
        ray, started = self._connect()
        try:
            task = self._task(ray, fn)
            return ray.get([task.remote(x) for x in items])
        finally:
            if started:
                ray.shutdown()

    def _connect(self):
        import ray

        if ray.is_initialized():
            return ray, False
        kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True}
        if self.address:
            # the driver's own datagen goes to the workers, so every block runs the same code
            kw["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])]}
        try:
            ray.init(address=self.address, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"--ray-address {self.address}: cannot join the Ray cluster: {e}") from None
        return ray, True

    def _width(self, ray) -> int:
        return self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _task(self, ray, fn):
        return ray.remote(num_cpus=1, max_retries=self.retries, retry_exceptions=False)(fn)

    def _open_cache(self):
        return BlockCacheWriter(self.llm_cfg.cache_path) if self.llm_cfg.cache else None

    def _run(self, ray, gen, client, chain, num: int) -> Iterator[Outcome]:
        from tqdm.auto import tqdm

        blocks = gen.blocks()
        task = self._task(ray, run_block_task)
        gen_ref = ray.put(gen)  # inputs travel once per node, not once per block
        report, state = gen.report, {}
        cache = self._open_cache()
        emitted = kept = 0
        bar = tqdm(total=sum(len(b) for b in blocks), desc=f"{gen.name} items", unit="item", disable=None,
                   leave=False)

        ledger = client.usage.ledger if client is not None else None

        asked: list = []  # per block back so far, one object: the digests of what it asked

        def arrived(res):
            _fold(res, client, cache)  # paid for: kept even if the run stops here
            if res.get("stopped") and ledger is not None:
                ledger.stopped = ledger.stopped or res["stopped"]
            digests = frozenset(digest(o.record.instruction) for o in res["outcomes"] if o.record.instruction)
            if digests:
                asked.append(ray.put(digests))  # stored once; each later block gets its reference
            bar.update(res["items"])

        # a block is sent with what the blocks before it asked, as far as their results are
        # back (those still running cannot be known): it drops a repeat before paying for it
        order = InOrder(ray, lambda i, budget: task.remote(gen_ref, blocks[i], self.llm_cfg, budget, list(asked)),
                        len(blocks), self._width(ray), arrived, room=lambda f, done: _room(ledger, f, done))
        ok = False
        try:
            for res in order:
                emitted += 1
                _merge_report(report, res)
                outcomes = gen.accept_block(res["outcomes"], state)
                cands = [o for o in outcomes if o.stage == CANDIDATE_STAGE and o.verdict.kept]
                yield from (o for o in outcomes if not (o.stage == CANDIDATE_STAGE and o.verdict.kept))
                for o, verdict in zip(cands, chain.check_many([o.record for o in cands], limit=num - kept)):
                    if verdict is None:
                        report.count("surplus")  # answered, not needed
                        continue
                    kept += verdict.kept
                    yield Outcome(o.record, verdict, stage=CANDIDATE_STAGE)
                if kept >= num:
                    break
            ok = True
        finally:
            bar.close()
            # blocks past --num: their records are not needed, but their requests are
            # paid for, so their answers go to the cache
            order.finish(ok, lambda res: _fold(res, client, cache))
            if cache is not None:
                cache.close()
        report.counts["kept"] = kept
        report.counts["blocks"] = emitted
        if kept < num and ledger is not None and ledger.stopped:
            from ..llm.ledger import BudgetExceeded

            raise BudgetExceeded(ledger.stopped["detail"], dict(ledger.stopped))
        if kept >= num:
            report.stop_reason = f"reached --num {num}"
        else:
            report.stop_reason = (f"used every input block once ({len(blocks)} blocks of "
                                  f"{sum(len(b) for b in blocks)} items) and kept {kept} of {num}")

    def score_blocks(self, work, blocks: list, client=None) -> Iterator[list[dict]]:
        """Scoring blocks (datagen/quality: ScoreWork) as Ray tasks; each block's scores in
        block order. A judge worker builds its client from the LLMConfig; an ifd/perplexity
        worker loads the local LM once for all its blocks."""
        from tqdm.auto import tqdm

        ray, started = self._connect()
        llm_cfg = self.llm_cfg if work.needs_client else None
        cache = self._open_cache() if llm_cfg is not None else None
        bar = tqdm(total=sum(len(b) for b in blocks), desc=f"{work.cfg.scorer} records", unit="record",
                   disable=None, leave=False)
        ok = False
        try:
            task = self._task(ray, score_block_task)
            work_ref = ray.put(work)

            def arrived(res):
                _fold(res, client, cache)
                bar.update(res["items"])

            order = InOrder(ray, lambda i, _: task.remote(work_ref, blocks[i], llm_cfg), len(blocks),
                            self._width(ray), arrived)
            try:
                for res in order:
                    yield res["scores"]
                ok = True
            finally:
                order.finish(ok, lambda res: _fold(res, client, cache))
        finally:
            bar.close()
            if cache is not None:
                cache.close()
            if started:
                ray.shutdown()


class InOrder:
    """Blocks 0..n-1 as Ray tasks (`submit(i)` returns the task's ref), at most `width`
    in flight or arrived and not yet taken; iterating gives the results in block order.
    `arrived(res)` runs as each result comes back. A consumer that stops early calls
    `finish(ok=True, late)` to pass the results still in flight to `late`; after an
    error, `finish(ok=False)` cancels them."""

    def __init__(self, ray, submit, n: int, width: int, arrived, room=None):
        self.ray, self.submit, self.n, self.width, self.arrived = ray, submit, n, width, arrived
        # room(in flight, arrived) -> (may one more go out, its argument): a cap between blocks
        self.room = room or (lambda in_flight, arrived: (True, None))
        self.pending: dict[Any, int] = {}  # object ref -> block index

    def __iter__(self) -> Iterator[dict]:
        ray, pending = self.ray, self.pending
        done: dict[int, dict] = {}
        submitted = emitted = returned = 0
        while emitted < self.n:
            while submitted < self.n and len(pending) + len(done) < self.width:
                ok, arg = self.room(len(pending), returned)
                if not ok:
                    break
                pending[self.submit(submitted, arg)] = submitted
                submitted += 1
            if emitted not in done:
                if not pending:
                    return  # nothing in flight and nothing more may go out: the cap is reached
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    done[i] = _get(ray, ref)
                    returned += 1
                    self.arrived(done[i])
                continue
            res = done.pop(emitted)
            emitted += 1
            yield res

    def finish(self, ok: bool, late=None) -> None:
        for ref in list(self.pending):
            if not ok:
                self.ray.cancel(ref)
                continue
            try:
                res = self.ray.get(ref)
            except self.ray.exceptions.RayError:
                continue
            if late is not None:
                late(res)
        self.pending.clear()


def _room(ledger, in_flight: int, returned: int):
    """The cap between blocks: whether one more block may go out, and its budget (the
    run's cap less what was spent and what the blocks in flight are expected to cost).
    Before a block has come back, one block at a time."""
    if ledger is None or not ledger.budget:
        return True, None
    if ledger.stopped or (in_flight and not returned):
        return False, None
    budget = ledger.headroom(in_flight, returned)
    if (budget.max_cost is not None and budget.max_cost <= 0) or (budget.max_tokens is not None
                                                                   and budget.max_tokens <= 0):
        if not in_flight:
            t = ledger.totals()
            ledger.stopped = {"reason": "budget", "spent": t, "max_cost": ledger.budget.max_cost,
                              "max_total_tokens": ledger.budget.max_tokens,
                              "detail": f"the cap is spent (${t['dollars'] or 0:.4f}, {t['tokens']} tokens): "
                                        "no further block sent"}
        return False, None
    return True, budget


def _get(ray, ref) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        raise e.as_instanceof_cause() from None  # an LLMError stays an LLMError: one-line CLI error


def _merge_report(report, res: dict) -> None:
    for k, v in res["counts"].items():
        report.count(k, v)
    report.prompt_templates.update(res["prompt_templates"])
    for note in res["notes"]:
        if note not in report.notes:
            report.notes.append(note)


def _fold(res: dict, client, cache) -> None:
    """A block's ledger rows into the driver's client's accounts (its usage counts are read
    from them), its new answers into the response cache."""
    if client is not None:
        client.usage.accounts.merge(res.get("ledger") or [])
    if cache is not None:
        cache.put_block(res["cache"])


class BlockCacheWriter:
    """The driver's side of the response cache: the one writer of the workers' answers,
    one transaction per block (a commit per answer, fsynced, held one driver to ~300
    answers/s; a block's answers in one commit, ~50,000/s). A driver killed mid-fold
    loses that block's answers whole, never half of them."""

    def __init__(self, path):
        from ..llm.cache import ResponseCache

        ResponseCache(path).close()  # the file and its table, made (and errors named) as the cache does
        self._db = sqlite3.connect(str(path), timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")

    def put_block(self, entries: dict[str, str]) -> None:
        if entries:  # stored as the worker wrote them
            self._db.executemany("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", entries.items())
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def make_executor(settings, llm_cfg):
    """The executor `settings.executor` names; `ray` needs the ray extra."""
    if settings.executor == "ray":
        from ..extras import require_extra

        require_extra("ray", "--executor ray")
        return RayExecutor(llm_cfg, settings.ray_address, settings.ray_workers)
    if settings.executor != "local":
        raise ConfigError(f"executor must be local or ray, got {settings.executor!r}")
    return LocalExecutor()

