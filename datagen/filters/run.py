"""Filter a JSONL file of records with the same chain the generators use (`datagen filter`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from ..config import from_dict, merge
from ..errors import DataError
from ..io import iter_json_rows, load_yaml, read_records, row_to_record, write_jsonl
from ..records import Record
from ..text import detect_lang
from . import FilterConfig, build_chain
from .base import funnel

BATCH = 256  # candidates encoded per embedding batch


def filter_config(path: str | None = None, *, rouge=None, no_rouge=False, embed=None, no_embed=False,
                  embed_model=None, min_len=None, max_len=None, decontaminate=None) -> FilterConfig:
    """FilterConfig from an optional YAML file (a `filters:` section or a bare mapping),
    overridden by flags."""
    data: dict[str, Any] = {}
    if path:
        data = load_yaml(path)
        if "filters" in data:
            data = data["filters"] or {}
    cfg = from_dict(FilterConfig, data, f"{path}: filters" if path else "filters")
    cfg = merge(cfg, rouge=rouge, embed=embed, embed_model=embed_model, min_len=min_len, max_len=max_len,
                decontaminate=decontaminate)
    if no_rouge:
        cfg.rouge = None
    if no_embed:
        cfg.embed = None
    cfg.__post_init__()
    return cfg


def filter_rows(rows: Iterable[tuple[int, dict[str, Any], Record]], chain,
                verdicts: list | None = None) -> tuple[list[dict], list[dict]]:
    """Run `chain` over (line, original row, record) in order, a batch at a time. Returns
    the kept original rows and reject rows {reason, filter, line, record, detail}; every
    verdict is appended to `verdicts` when given (for the funnel)."""
    rows = list(rows)
    kept: list[dict] = []
    rejects: list[dict] = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start: start + BATCH]
        for (line, row, rec), v in zip(batch, chain.check_many([rec for _, _, rec in batch])):
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
