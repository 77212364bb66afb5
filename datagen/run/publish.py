"""Publish a generator run as a new dataset version, refreshing from its parent.

A refresh starts from the latest version: its records seed the filter chain's pools so
every new candidate is deduplicated against them (exact, ROUGE-L, embedding), and the new
version is parent + new records — a full snapshot a trainer reads alone.

Resuming: a killed run publishes nothing. Run again and the generator asks the same
questions (its seed is derived from the version number being written, not from the
clock), so the response cache answers every call the killed run already paid for.
"""

from __future__ import annotations

import dataclasses
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from .runner import RunResult, run_generator
from ..store import DatasetVersion, check_name, file_sha256, version_number

SECRET_KEY_RE = re.compile(r"(^|_)(api_?key|secret|password|passwd|token|auth|authorization|credentials?)$", re.I)


@dataclass
class PublishedRun(RunResult):
    """A RunResult that also says which version it published (None: nothing new)."""

    version: DatasetVersion | None = None
    parent: DatasetVersion | None = None
    added: int = 0


def scrub(obj: Any, secrets: set[str] = frozenset()) -> Any:
    """Drop secret-looking keys and any value equal to a known secret, recursively."""
    if isinstance(obj, dict):
        return {k: scrub(v, secrets) for k, v in obj.items() if not SECRET_KEY_RE.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str) and obj in secrets:
        return "<redacted>"
    return obj


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def version_seed(base: int | None, version: str) -> int:
    """v0001 runs with the base seed, v0002 with base+1, …: each refresh samples new
    prompts, and a re-run of the same version repeats its prompts exactly (cache hits)."""
    return int(base or 0) + version_number(version) - 1


def hash_inputs(paths) -> dict[str, str]:
    out = {}
    for p in paths or []:
        try:
            out[str(p)] = file_sha256(p)
        except OSError:
            out[str(p)] = "missing"
    return out


def build_manifest(run, result: RunResult, seed: int, added: int) -> dict[str, Any]:
    """The manifest of a version `run` (run/job.Run) publishes: its configs (no secrets),
    counts, funnel, usage and ledger; `seed` is the version's own."""
    secrets = {os.environ[k] for k in (run.llm.api_key_env, "OPENAI_API_KEY")
               if k and os.environ.get(k)}
    config = {
        "generator": _plain(run.gen.config),
        "llm": run.llm.public(),
        "filters": _plain(run.filters),
        "run": {**_plain(run.settings), "seed": seed, "lang": run.lang},
    }
    report = result.report
    return scrub({
        "config": config,
        "generator": run.gen.name,
        "backend": run.client.backend,
        "model": run.client.model,
        "lang": run.lang,
        "seed": seed,
        "prompt_templates": dict(report.prompt_templates),
        "inputs": hash_inputs(report.inputs),
        "counts": {"added": added},
        "funnel": result.funnel,
        "usage": {**result.usage, "ledger": dict(result.ledger)} if result.ledger else dict(result.usage),
        "stopped": dict(result.stopped) if result.stopped else None,
        "run": {"seconds": result.seconds, "throughput": dict(result.throughput), "stop_reason": report.stop_reason,
                "notes": list(report.notes), "counts": dict(report.counts)},
        **({"held_out": dict(report.held_out)} if report.held_out else {}),
        **({"skipped_inputs": dict(report.skipped)} if report.skipped else {}),
    }, secrets)


def publish_run(run) -> PublishedRun:
    """Run `run.gen` (run/job.Run, its client open) against the latest version of
    `settings.dataset` and publish parent + new records as the next version, under the
    dataset lock: `run.lock` when the caller already holds it (a pipeline holds it through
    training), else taken here."""
    settings, gen, lock = run.settings, run.gen, run.lock
    store = run.store
    name = check_name(settings.dataset)
    if lock is not None and not (lock.held and lock.name == name):
        raise RuntimeError(f"publish_run needs the held lock of dataset '{name}'")
    with (nullcontext() if lock is not None else store.lock(name)):
        store.clean_temp(name)
        parent = store.latest(name)
        parent_records = parent.records() if parent else []
        version = store.next_version(name)
        seed = version_seed(gen.seed, version)
        gen.reseed(seed)
        gen.continue_from(parent_records)

        from ..filters import build_chain

        chain = build_chain(run.filters, run.lang, parent=parent_records)

        base = run_generator(gen, run.client, chain, settings.num, executor=run.executor,
                             reasoning=run.llm.reasoning)
        base.llm = run.llm.public()
        result = PublishedRun(**{f.name: getattr(base, f.name) for f in dataclasses.fields(RunResult)},
                              parent=parent)
        new = list(result.kept)
        result.added = len(new)
        if not new:
            where = f"latest stays {parent.ref}" if parent else "no version written"
            note = f"dataset {name}: no new records, nothing published ({where})"
            if result.usage.get("requests") or result.stopped:
                # paid for and nothing to show: the attempt's spend and stop go in the store
                manifest = build_manifest(run, result, seed, 0)
                path = store.record_attempt(name, result.rejects, manifest)
                note += f"; spend and rejects of this attempt in {path}"
            result.report.notes.append(note)
            return result
        manifest = build_manifest(run, result, seed, len(new))
        result.version = store.publish(name, parent_records + new, result.rejects, manifest,
                                       parent=parent.version if parent else None)
    total = len(parent_records) + len(new)
    result.report.notes.append(
        f"published {result.version.ref} at {result.version.path}: {total} records "
        f"({len(new)} new{', parent ' + parent.version if parent else ''})"
    )
    return result
