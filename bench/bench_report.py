"""Time each stage of `datagen report` on real data: HuaTuo's 8,658 Chinese records and
Self-Instruct's 252 user-oriented tasks against its 175 seeds. Writes
bench/results/report.json.

    python bench/bench_report.py [--rouge-sample 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPORA = Path(os.environ.get("DATAGEN_CORPORA", ROOT.parent / "shared" / "corpora"))


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, round(time.perf_counter() - t0, 3)


def bench_one(data: Path, seeds: Path | None, rouge_sample: int) -> dict:
    from datagen.report import ReportOptions, load_jsonl, write_report
    from datagen.report import diversity, similarity, stats
    from datagen.report.source import split_seeds

    inp, t_load = timed(load_jsonl, data)
    recs = inp.records
    seed_texts, generated = split_seeds(recs, seeds)
    instr = list(stats.distinct_instructions(generated or recs))
    res = {"data": data.name, "records": len(recs), "instructions": len(instr), "seconds": {"load": t_load}}
    s = res["seconds"]
    _, s["counts"] = timed(stats.counts, recs)
    _, s["lengths"] = timed(stats.lengths, recs)
    _, s["verbs"] = timed(diversity.verb_stats, instr)
    _, s["distinct_n"] = timed(diversity.distinct_stats, instr, [r.output for r in recs])
    if seed_texts:
        _, s["rouge_seed"] = timed(similarity.seed_rouge, instr, seed_texts, 5000)
    near, s["rouge_nearest"] = timed(similarity.nearest_rouge, instr, rouge_sample)
    res["rouge_nearest_compared"] = near["compared"] if near else 0
    with tempfile.TemporaryDirectory() as out:
        opts = ReportOptions(seeds=str(seeds) if seeds else None, rouge_sample=rouge_sample)
        _, s["whole_report"] = timed(write_report, [inp], out, opts)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rouge-sample", type=int, default=2000)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA} (set DATAGEN_CORPORA)")
    results = {
        "rouge_sample": args.rouge_sample,
        "cpu_count": os.cpu_count(),
        "load_avg": os.getloadavg()[0],
        "runs": [
            bench_one(CORPORA / "self_instruct_user_oriented.jsonl", CORPORA / "self_instruct_seed_tasks.jsonl",
                      args.rouge_sample),
            bench_one(CORPORA / "huatuo_llama_data.jsonl", None, args.rouge_sample),
        ],
    }
    out = ROOT / "bench" / "results" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
