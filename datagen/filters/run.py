"""Filter a JSONL file of records with the same chain the generators use (`datagen filter`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from ..config import from_dict, merge
from ..errors import DataError
from ..io import iter_json_rows, read_records, row_to_record, write_jsonl
from ..records import Record
from ..text import detect_lang
from . import FilterConfig, build_chain, prepare

BATCH = 256  # candidates encoded per embedding batch


def filter_config(path: str | None = None, *, rouge=None, no_rouge=False, embed=None, no_embed=False,
                  embed_model=None, min_len=None, max_len=None) -> FilterConfig:
    """FilterConfig from an optional YAML file (a `filters:` section or a bare mapping),
    overridden by flags."""
    data: dict[str, Any] = {}
    if path:
        from ..pipeline import load_yaml

        data = load_yaml(path)
        if "filters" in data:
            data = data["filters"] or {}
    cfg = from_dict(FilterConfig, data, f"{path}: filters" if path else "filters")
    cfg = merge(cfg, rouge=rouge, embed=embed, embed_model=embed_model, min_len=min_len, max_len=max_len)
    if no_rouge:
        cfg.rouge = None
    if no_embed:
        cfg.embed = None
    cfg.__post_init__()
    return cfg


def filter_rows(rows: Iterable[tuple[int, dict[str, Any], Record]], chain) -> tuple[list[dict], list[dict]]:
    """Run `chain` over (line, original row, record) in order. Returns the kept original
    rows and reject rows {reason, filter, line, record, detail}."""
    rows = list(rows)
    kept: list[dict] = []
    rejects: list[dict] = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start: start + BATCH]
        prepare(chain, [rec for _, _, rec in batch])
        for line, row, rec in batch:
            v = chain.check(rec)
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
    kept, rej = filter_rows(rows, chain)
    out = Path(out)
    rej_path = Path(rejects) if rejects else out.with_name(out.stem + ".rejects.jsonl")
    write_jsonl(rej_path, rej)
    write_jsonl(out, kept)
    return {
        "input": str(infile), "out": str(out), "rejects": str(rej_path), "lang": lang,
        "pool": len(pool), "funnel": chain.funnel(), "seconds": round(time.perf_counter() - t0, 3),
    }


def format_funnel(report: dict[str, Any]) -> str:
    f = report["funnel"]
    lines = [f"filter: kept {f['kept']} of {f['seen']} records ({report['lang']}"
             + (f", pool {report['pool']}" if report.get("pool") else "") + f") in {report['seconds']:.1f}s"]
    for reason, n in f["dropped"].items():
        lines.append(f"  {n:>7}  {reason}")
    lines.append(f"  kept -> {report['out']}; rejects -> {report['rejects']}")
    return "\n".join(lines)
