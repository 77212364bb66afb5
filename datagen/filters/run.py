"""Filter a JSONL file of records with the same chain the generators use (`datagen filter`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from ..config import from_dict, override
from ..errors import DataError
from ..io import iter_json_rows, load_yaml, read_records, row_to_record, write_jsonl
from ..records import Record
from ..text import detect_lang
from . import FilterConfig, build_chain
from .base import funnel

BATCH = 256  # candidates encoded per embedding batch


def filter_config(path: str | None = None, given: dict[str, Any] | None = None, origin=None) -> FilterConfig:
    """FilterConfig from an optional YAML file (a `filters:` section or a bare mapping),
    with `given` (field -> value of the flags given; None turns a filter off) laid over it."""
    data: dict[str, Any] = {}
    if path:
        data = load_yaml(path)
        if "filters" in data:
            data = data["filters"] or {}
    cfg = from_dict(FilterConfig, data, f"{path}: filters" if path else "filters")
    return override(cfg, given or {}, origin)


def task_key(record: Record) -> str:
    """Records sharing an instruction are the instances of one task (Self-Instruct writes
    one record per instance): they are deduplicated as one."""
    return " ".join(record.instruction.lower().split())


def instance_key(record: Record) -> tuple[str, str, tuple]:
    turns = tuple(m.get("content", "").strip() for m in record.messages or [] if m.get("role") == "user")
    return task_key(record), " ".join(record.input.split()), turns


def filter_rows(rows: Iterable[tuple[int, dict[str, Any], Record]], chain,
                verdicts: list | None = None) -> tuple[list[dict], list[dict]]:
    """Run `chain` over (line, original row, record) in order, a batch at a time. Returns
    the kept original rows and reject rows {reason, filter, line, record, detail}; every
    verdict is appended to `verdicts` when given (for the funnel).

    Deduplication is on the instruction, across tasks, as the generators do it: the first
    record of each instruction goes through the whole chain; the later instances of that
    task share its fate, and when it was kept they meet the rules only (not the
    near-duplicate pools: they would all match their own task) and are dropped as
    `duplicate_instance` when instruction and input repeat a kept one."""
    from .base import FilterChain, Verdict

    rows = list(rows)
    first: dict[str, int] = {}
    for i, (_, _, rec) in enumerate(rows):
        first.setdefault(task_key(rec), i)
    heads = [i for i in range(len(rows)) if first[task_key(rows[i][2])] == i]
    decided: dict[int, Verdict] = {}
    for start in range(0, len(heads), BATCH):
        batch = heads[start: start + BATCH]
        for i, v in zip(batch, chain.check_many([rows[i][2] for i in batch])):
            decided[i] = v
    rules = FilterChain([f for f in chain.filters if not f.stateful])
    seen = {instance_key(rows[i][2]) for i in heads if decided[i].kept}
    for i, (_, _, rec) in enumerate(rows):
        if i in decided:
            continue
        head = first[task_key(rec)]
        hv = decided[head]
        if not hv.kept:
            decided[i] = Verdict(False, hv.reason, hv.filter, {"same_task_as_line": rows[head][0]})
        elif instance_key(rec) in seen:
            decided[i] = Verdict(False, "duplicate_instance", "exact_duplicate", {"same_task_as_line": rows[head][0]})
        else:
            decided[i] = rules.check(rec)
            if decided[i].kept:
                seen.add(instance_key(rec))
    kept: list[dict] = []
    rejects: list[dict] = []
    for i, (line, row, _) in enumerate(rows):
        v = decided[i]
        if verdicts is not None:
            verdicts.append(v)
        if v.kept:
            kept.append(row)
        else:
            rej = {"reason": v.reason, "filter": v.filter, "line": line, "record": row}
            if v.detail:
                rej["detail"] = v.detail
            rejects.append(rej)
    return kept, rejects


def filter_file(infile: str | Path, out: str | Path, *, rejects: str | Path | None = None,
                against: list[str | Path] | None = None, cfg: FilterConfig | None = None,
                lang: str = "auto") -> dict[str, Any]:
    """Filter `infile` into `out` (kept rows unchanged) and `rejects`; returns a report
    with the funnel. Nothing is written unless the whole input parses."""
    t0 = time.perf_counter()
    infile = Path(infile)
    if not infile.is_file():
        raise DataError(infile, None, "file not found")
    rows = [(line, row, row_to_record(infile, line, row)) for line, row in iter_json_rows(infile)]
    pool: list[Record] = []
    for p in against or []:
        pool.extend(read_records(p))
    if lang == "auto":
        lang = detect_lang([r.instruction for _, _, r in rows[:1000]] or [""])
    chain = build_chain(cfg or FilterConfig(), lang)
    if pool:
        chain.add_many(pool)
    verdicts: list = []
    kept, rej = filter_rows(rows, chain, verdicts)
    out = Path(out)
    rej_path = Path(rejects) if rejects else out.with_name(out.stem + ".rejects.jsonl")
    write_jsonl(rej_path, rej)
    write_jsonl(out, kept)
    return {
        "input": str(infile), "out": str(out), "rejects": str(rej_path), "lang": lang,
        "pool": len(pool), "funnel": funnel(verdicts), "seconds": round(time.perf_counter() - t0, 3),
    }


def format_funnel(report: dict[str, Any]) -> str:
    f = report["funnel"]
    lines = [f"filter: kept {f['kept']} of {f['seen']} records ({report['lang']}"
             + (f", pool {report['pool']}" if report.get("pool") else "") + f") in {report['seconds']:.1f}s"]
    for reason, n in f["dropped"].items():
        lines.append(f"  {n:>7}  {reason}")
    lines.append(f"  kept -> {report['out']}; rejects -> {report['rejects']}")
    return "\n".join(lines)
