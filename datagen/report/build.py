"""Put a report together: stats.json, the PNGs, and a self-contained report.html."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..records import Record
from ..text import detect_lang
from . import diversity, plots, quality, similarity, stats
from .cost import cost_plot, cost_stats
from .source import ReportInput, split_seeds


@dataclass
class ReportOptions:
    seeds: str | None = None  # seed file for the nearest-seed ROUGE (else meta.source == "seed")
    rouge_sample: int | None = 2000  # instructions compared with each other (quadratic)
    seed_sample: int | None = 5000  # instructions compared with the seeds (linear)
    top: int = 20  # bars in the verb charts
    samples: int = 20  # random records shown in the HTML
    seed: int = 0  # RNG seed for every sample, so reruns give the same report
    progress: bool = False


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"report: {msg}", file=sys.stderr, flush=True)


def compute_stats(inp: ReportInput, opts: ReportOptions | None = None) -> dict[str, Any]:
    """Everything stats.json holds for one dataset."""
    opts = opts or ReportOptions()
    records = inp.records
    if not records:
        raise DataError(inp.path or inp.label, None, "no records to report on")
    seeds, generated = split_seeds(records, opts.seeds or manifest_seeds(inp.manifest))
    gen_instr = list(stats.distinct_instructions(generated or records))
    probe = random.Random(opts.seed).sample(gen_instr, min(len(gen_instr), 500))
    lang = detect_lang(probe)
    m = inp.manifest
    _say(opts.progress, f"{inp.label}: counts and lengths of {len(records)} records")
    counts = stats.counts(records)
    counts["seed_tasks"] = len(seeds) or None
    lengths = stats.lengths(records)
    _say(opts.progress, f"{inp.label}: leading verbs of {len(gen_instr)} instructions")
    verbs = diversity.verb_stats(gen_instr, top=opts.top, progress=opts.progress)
    distinct = diversity.distinct_stats(gen_instr, [r.output for r in records])
    _say(opts.progress, f"{inp.label}: ROUGE-L overlap")
    rouge = {
        "seed": similarity.seed_rouge(gen_instr, seeds, opts.seed_sample, opts.progress),
        "nearest": similarity.nearest_rouge(gen_instr, opts.rouge_sample, opts.progress),
    }
    return {
        "dataset": {
            "label": inp.label,
            "path": inp.path,
            "lang": lang,
            "generator": m.get("generator"),
            "model": m.get("model"),
            "backend": m.get("backend"),
            "created": m.get("created"),
            "parent": m.get("parent"),
        },
        "counts": counts,
        "lengths": lengths,
        "paper": stats.PAPER,
        "paper_comparison": stats.paper_comparison(counts, lengths, len(seeds) or None),
        "rouge": rouge,
        "diversity": {"verbs": verbs, "distinct": distinct},
        "runs": stats.runs(inp.lineage, inp.rejects),
        "quality": quality.quality_stats(records, inp.rejects, inp.lineage),
        "cost": cost_stats(m),
        "evals": eval_results(inp),
    }


def eval_results(inp: ReportInput) -> dict[str, Any]:
    """`datagen eval` results: this version's, and every evaluated version's, as lines."""
    from ..eval.report import summary_line

    version = inp.manifest.get("version")
    this = next((s for s in inp.evals if s.get("version") == version), None)
    return {"this": this, "this_line": summary_line(this) if this else None,
            "all": [{"version": s["version"], "line": summary_line(s)} for s in inp.evals]}


def manifest_seeds(manifest: dict[str, Any]) -> str | None:
    """The seed file a Self-Instruct run recorded in its manifest, when it still exists
    unchanged, so the nearest-seed picture needs no --seeds flag."""
    if manifest.get("generator") != "self-instruct":
        return None
    from ..store import file_sha256

    for path, sha in (manifest.get("inputs") or {}).items():
        p = Path(path)
        if p.is_file() and (not sha or file_sha256(p) == sha):
            return str(p)
    return None


def sample_records(records: list[Record], k: int, seed: int = 0) -> list[Record]:
    return random.Random(seed).sample(records, min(k, len(records)))


def _slug(i: int, n: int) -> str:
    return "" if n == 1 else f"-{i + 1}"


def write_report(inputs: list[ReportInput], out: str | Path, opts: ReportOptions | None = None) -> dict[str, Any]:
    """Write stats.json, the PNGs and report.html for one dataset (or two side by side)
    into `out`. Returns {"html", "stats", "images"} paths."""
    from .html import render

    opts = opts or ReportOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_stats = [compute_stats(inp, opts) for inp in inputs]
    series = [(inp.label, st) for inp, st in zip(inputs, all_stats)]
    _say(opts.progress, "plots")
    # per-dataset pictures stay aligned with `series` (None where there is nothing to draw)
    images: dict[str, list[Path | None]] = {"lengths": [], "rouge": [], "verbs": [], "funnel": [], "quality": [],
                                            "evolution": [], "cost": []}
    images["lengths"].append(plots.lengths_plot(series, out / "lengths.png"))
    p = plots.rouge_plot(series, out / "rouge.png")
    if p:
        images["rouge"].append(p)
    n = len(series)
    for i, (label, st) in enumerate(series):
        for key, fn in (("verbs", plots.verbs_plot), ("funnel", plots.funnel_plot),
                        ("quality", quality.quality_plot), ("cost", cost_plot)):
            images[key].append(fn(label, st, out / f"{key}{_slug(i, n)}.png"))
        images["evolution"].append(plots.evolution_plot(label, inputs[i].records, out / f"evolution{_slug(i, n)}.png"))
    stats_path = out / "stats.json"
    payload: Any = all_stats[0] if n == 1 else {"compare": all_stats}
    stats_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    samples = [sample_records(inp.records, opts.samples, opts.seed) for inp in inputs]
    html_path = out / "report.html"
    html_path.write_text(render(series, images, samples, cjk_font=plots.has_cjk_font()), encoding="utf-8")
    return {"html": html_path, "stats": stats_path, "images": [p for ps in images.values() for p in ps if p]}
