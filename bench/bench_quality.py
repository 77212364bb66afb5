"""Quality-stage throughput. Writes bench/results/quality.json.

1. Judge: JudgeScorer over 2,000 records against a loopback endpoint that answers after
   200 ms, at concurrency 32. Ideal = 32 / 0.2 s = 160 req/s; target ratio >= 0.8.
2. IFD: the embedded SmolLM2 on the CPU, records/s in padded batches vs one record at a
   time, in the same run on the same records; target >= 3x. On a CPU a 135M model is
   compute-bound from ~30 tokens a sequence, so batching saves the per-call overhead and
   the batch's shared chat-template prefix, not the arithmetic (see docs/quality.md).

    python bench/bench_quality.py [--records 2000] [--ifd-records 48] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from harness import ROOT, fixed, loopback, write_result


def records(n: int):
    from datagen.records import Record

    return [Record(instruction=f"Explain step {i} of making bread, briefly.",
                   output=f"Step {i}: knead the dough for a few minutes until it is smooth and elastic, "
                          f"then let it rest{' and rise' * (i % 4)}.")
            for i in range(n)]


def bench_judge(n: int, concurrency: int, delay: float) -> dict:
    from datagen.llm.openai_compat import OpenAIChatClient
    from datagen.quality.judge import JudgeScorer

    with loopback(fixed('{"score": 4, "reason": "Correct and complete."}'), delay, prompt_tokens=200, completion_tokens=12) as server:
        url = server.url
        client = OpenAIChatClient(model="stub", base_urls=[url], concurrency=concurrency, cache=None, max_retries=0)
        JudgeScorer(client).score_many(records(concurrency))  # warm-up: imports, connections
        recs = records(n)
        start, cpu = time.perf_counter(), time.process_time()
        scores = JudgeScorer(client).score_many(recs)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        client.close()
    assert all(s["value"] == 4 for s in scores)
    ideal = concurrency / delay
    ratio = n / seconds / ideal
    return {"records": n, "concurrency": concurrency, "delay_s": delay, "seconds": round(seconds, 3),
            "req_per_s": round(n / seconds, 1), "ideal_req_per_s": round(ideal, 1), "ratio": round(ratio, 3),
            "target": 0.8, "pass": ratio >= 0.8, "client_cpu_ms_per_record": round(cpu / n * 1000, 2)}


def bench_ifd(n: int, batch_size: int, threads: int = 1) -> dict:
    import torch

    from datagen.quality.lm import IFDScorer, LMScorer

    batched = LMScorer(batch_size=batch_size, threads=threads)
    model, tok = batched.load()
    single = LMScorer(batch_size=1, _model=model, _tok=tok)
    recs = records(n)
    IFDScorer(single).score_many(recs[:2])  # warm-up
    t0 = time.perf_counter()
    one = IFDScorer(single).score_many(recs)
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    many = IFDScorer(batched).score_many(recs)
    t_many = time.perf_counter() - t0
    diff = max(abs(a["value"] - b["value"]) for a, b in zip(one, many))
    speedup = t_one / t_many
    # the arithmetic each mode does: transformer positions per record (one at a time:
    # prompt + answer, then the answer alone; batched: the shared chat-template prefix
    # once a batch). The head runs on the same loss positions in both.
    enc = [batched.encode(r) for r in recs]
    one_tok = sum(len(p) + 2 * len(a) for p, a in enc) / n
    cond = sorted(((p + a, len(p)) for p, a in enc), key=lambda s: len(s[0]))
    shared = sum(LMScorer._shared_prefix(cond[b: b + batch_size]) * (len(cond[b: b + batch_size]) - 1)
                 for b in range(0, n, batch_size))
    batch_tok = one_tok - shared / n
    return {"records": n, "batch_size": batch_size, "threads": torch.get_num_threads(),
            "one_at_a_time_rec_per_s": round(n / t_one, 2), "batched_rec_per_s": round(n / t_many, 2),
            "speedup": round(speedup, 2), "target": 3.0, "pass": speedup >= 3.0,
            "max_abs_ifd_difference": float(f"{diff:.2e}"), "onednn": batched.onednn,
            "positions_per_record": {"one_at_a_time": round(one_tok, 1), "batched": round(batch_tok, 1)},
            "arithmetic_ratio": round(one_tok / batch_tok, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--ifd-records", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, the same for both IFD modes")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    result = {
        "name": "quality",
        "judge": bench_judge(args.records, args.concurrency, args.delay),
        "ifd": bench_ifd(args.ifd_records, args.batch_size, args.threads),
        "load_avg_1m_before": round(load, 2),  # other jobs on the box slow this down
        "python": sys.version.split()[0],
    }
    write_result(result, ROOT / "bench" / "results" / "quality.json")


if __name__ == "__main__":
    main()
