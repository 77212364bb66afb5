"""Quality stages on the store: score a version, select from a version. Each publishes
a new version whose manifest names its parent and what was done, under the dataset lock
(the caller's, when it already holds it)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from ..llm.ledger import usage_of
from ..store import DatasetLock, DatasetStore, DatasetVersion
from . import ScoreConfig, ScoreWork, resolve_config, split_blocks, write_scores
from .select import SelectConfig, select_records

# what a derived version carries over from its parent's manifest, so reports still
# say which generator and model made the data
INHERITED = ("generator", "backend", "model", "lang", "config")


def _locked(store: DatasetStore, name: str, lock: DatasetLock | None):
    if lock is not None:
        if not (lock.held and lock.name == name):
            raise RuntimeError(f"quality stage needs the held lock of dataset '{name}'")
        return nullcontext()
    return store.lock(name)


def _inherit(parent: DatasetVersion) -> dict[str, Any]:
    return {k: parent.manifest[k] for k in INHERITED if k in parent.manifest}


def score_version(store: DatasetStore, ref: str, cfg: ScoreConfig, client=None, judge_cfg=None,
                  lock: DatasetLock | None = None, executor=None) -> tuple[DatasetVersion, dict]:
    """Score every record of `ref` and publish the scored records as the next version.
    `client` is the judge's ChatClient (its usage goes in the manifest). The records are
    scored in blocks of `cfg.block`, here or by `executor` (one with `score_blocks(work,
    blocks, client)`, e.g. datagen/run/executor.py's RayExecutor), which yields each
    block's scores in block order; the published version is the same either way."""
    parent = store.resolve(ref)
    with _locked(store, parent.name, lock):
        store.clean_temp(parent.name)
        records = parent.records()
        t0 = time.perf_counter()
        work = ScoreWork(resolve_config(cfg, records))
        blocks = split_blocks(records, cfg.block)
        where = executor.name if executor is not None else "local"
        if where == "local":
            scorer = work.make_scorer(client)
            results = (work.run_block(b, scorer) for b in blocks)
        else:
            results = executor.score_blocks(work, blocks, client)
        counts = write_scores(blocks, cfg.scorer, results)
        info: dict[str, Any] = {"scorer": cfg.scorer, "parent": parent.ref, **counts,
                                "seconds": round(time.perf_counter() - t0, 3), "executor": where,
                                "blocks": len(blocks)}
        if cfg.scorer == "judge":
            info.update(lang=work.cfg.lang, aspects=cfg.aspects, model=client.model if client else None,
                        backend=client.backend if client else None)
            if judge_cfg is not None:
                info["llm"] = judge_cfg.public()
        else:
            from .lm import LMScorer

            info.update(model=LMScorer(model_path=cfg.lm_model).model_name)
        manifest = {**_inherit(parent), "stage": "score", "score": info,
                    "counts": {"scored": counts["scored"], "failed": counts["failed"]}}
        manifest["usage"] = usage_of(client, f"{cfg.scorer} scorer: a local model, $0")
        version = store.publish(parent.name, records, [], manifest, parent=parent.version)
    return version, info


def select_version(store: DatasetStore, ref: str, cfg: SelectConfig, encoder=None,
                   lock: DatasetLock | None = None) -> tuple[DatasetVersion | None, dict]:
    """Select from `ref` and publish the selection; the rest go to its rejects. An empty
    selection publishes nothing (version None) unless `cfg.allow_empty`: an empty
    version would become the latest, and exports of it empty files."""
    from .select import check_scored

    parent = store.resolve(ref)
    with _locked(store, parent.name, lock):
        store.clean_temp(parent.name)
        records = parent.records()
        check_scored(records, cfg.by, f"{parent.ref}: ")
        kept, rejects, counts = select_records(records, cfg, encoder)
        info = {"parent": parent.ref, "scorer": cfg.by, **cfg.public(), "counts": counts}
        if not kept and not cfg.allow_empty:
            return None, info
        manifest = {**_inherit(parent), "stage": "select", "selection": info,
                    "counts": {"selected": counts["selected"], "dropped": len(rejects)},
                    "funnel": {"seen": len(records), "kept": len(kept),
                               "dropped": {k: v for k, v in counts.items()
                                           if k not in ("candidates", "selected") and v}},
                    "usage": usage_of(None, "selection: no LLM calls")}
        version = store.publish(parent.name, kept, rejects, manifest, parent=parent.version)
    return version, info
