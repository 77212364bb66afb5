"""A/B of RougeIndex on the synthesized pool: a git revision's datagen/filters/rouge*.py
against the working tree's, interleaved in one process (the machine is shared and noisy),
with the matches asserted identical -> bench/results/rouge_ab.json.

Run: `python bench/ab_rouge.py [--ref main] [--n 100000] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "rouge_ab.json"


def load_revision(ref: str, tmp: Path):
    """RougeIndex as of `ref`, imported as datagen.filters._ab_ref_* (its relative
    imports then resolve inside this checkout's datagen package)."""
    import datagen.filters

    names = subprocess.run(["git", "ls-tree", "--name-only", ref, "datagen/filters/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    mods = [Path(n).stem for n in names if Path(n).name.startswith("rouge")]
    for stem in mods:
        src = subprocess.run(["git", "show", f"{ref}:datagen/filters/{stem}.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        for other in mods:  # point sibling imports at the reference copies
            src = src.replace(f"from .{other} import", f"from ._ab_ref_{other} import")
        (tmp / f"_ab_ref_{stem}.py").write_text(src)
    datagen.filters.__path__.append(str(tmp))
    spec = importlib.util.find_spec("datagen.filters._ab_ref_rouge")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    from bench_rouge import THRESHOLD, synth_pool, t0_texts

    import datagen.filters.rouge as new

    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="main")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mods = {args.ref: load_revision(args.ref, Path(tmp)), "worktree": new}
        pool = synth_pool(t0_texts(), args.n)
        runs: dict[str, list] = {k: [] for k in mods}
        matches = {}
        for r in range(args.rounds):
            for name in list(mods) if r % 2 == 0 else list(mods)[::-1]:
                load = os.getloadavg()[0]
                t, c = time.perf_counter(), time.process_time()
                idx = mods[name].RougeIndex(THRESHOLD)
                m = idx.dedup(pool)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                assert matches.setdefault(name, m) == m
                runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "lcs_computed": idx.lcs_calls,
                                   "load_avg_1m_before": round(load, 2)})
                print(name, runs[name][-1], flush=True)
    ref, cur = (min(x["wall_s"] for x in runs[k]) for k in mods)
    ref_cpu, cur_cpu = (min(x["cpu_s"] for x in runs[k]) for k in mods)
    result = {"benchmark": "rouge_ab", "threshold": THRESHOLD, "pool": args.n, "ref": args.ref,
              "cpus": os.cpu_count(), "identical_matches": matches[args.ref] == matches["worktree"],
              "kept": sum(m is None for m in matches["worktree"]),
              "best_wall_s": {args.ref: ref, "worktree": cur}, "best_cpu_s": {args.ref: ref_cpu, "worktree": cur_cpu},
              "speedup_wall": round(ref / cur, 2), "speedup_cpu": round(ref_cpu / cur_cpu, 2), "runs": runs}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
