"""Store, refresh dedup and export throughput on synthetic records.

Writes bench/results/store.json:
- publish: a 20k-record version (write, fsync, sha256, rename) and reading it back;
- refresh: seeding the ROUGE filter chain with a 5k-record parent, then checking 500 new
  candidates against it (what every refresh pays before its first new record);
- export: the 20k-record version as alpaca JSON, messages JSONL and an HF dataset.
"""

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "store.json"
VOCAB = [f"w{i}" for i in range(3000)] + ["explain", "write", "list", "describe", "classify", "summarize"]


def make_records(n, rng):
    from datagen.records import Record

    out = []
    for _ in range(n):
        words = rng.sample(VOCAB, rng.randint(6, 14))
        out.append(Record(instruction=" ".join(words).capitalize() + ".", input="",
                          output=" ".join(rng.choices(VOCAB, k=40)), meta={"source": "bench"}))
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main():
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from datagen.export import export_records
    from datagen.filters import FilterConfig, build_chain
    from datagen.store import DatasetStore

    rng = random.Random(0)
    big = make_records(20_000, rng)
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        store = DatasetStore(Path(tmp) / "store")
        with store.lock("bench"):
            secs, dv = timed(lambda: store.publish("bench", big, [], {}))
        size = dv.data_path.stat().st_size
        results["publish"] = {"records": len(big), "mb": round(size / 1e6, 2), "seconds": round(secs, 3),
                              "records_per_s": round(len(big) / secs)}
        secs, back = timed(dv.records)
        results["read"] = {"records": len(back), "seconds": round(secs, 3), "records_per_s": round(len(back) / secs)}

        parent, new = big[:5000], make_records(500, rng)
        chain = build_chain(FilterConfig(embed=None), "en")
        seed_secs, _ = timed(lambda: chain.add_many(parent))
        check_secs, verdicts = timed(lambda: [chain.check(r) for r in new])
        results["refresh_dedup_rouge"] = {
            "parent": len(parent), "candidates": len(new), "seed_seconds": round(seed_secs, 3),
            "check_seconds": round(check_secs, 3), "candidates_per_s": round(len(new) / check_secs, 1),
            "kept": sum(v.kept for v in verdicts),
        }

        exports = {}
        for fmt, name in (("alpaca", "a.json"), ("messages", "m.jsonl"), ("hf", "hf")):
            secs, res = timed(lambda: export_records(big, fmt, Path(tmp) / "exp" / name, name="bench"))
            exports[fmt] = {"records": res.count, "seconds": round(secs, 3)}
        results["export"] = exports

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
