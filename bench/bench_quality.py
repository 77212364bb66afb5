"""Quality-stage throughput. Writes bench/results/quality.json.

1. Judge: JudgeScorer over 2,000 records against a loopback endpoint that answers after
   200 ms, at concurrency 32. Ideal = 32 / 0.2 s = 160 req/s; target ratio >= 0.8.
2. IFD: the embedded SmolLM2 on the CPU, records/s in padded batches vs one record at a
   time, interleaved in the same run on the same records at the same thread count, against
   two references: the paper's way (a plain HF forward with labels per sequence, logits
   over the whole vocabulary) and our own one-at-a-time path (batch_size=1: oneDNN, head
   only on loss positions). Target >= 3x, judged against the paper-style reference; the
   ratio to ours is reported beside it. On a CPU a 135M model is compute-bound from ~30
   tokens a sequence, so batching saves the per-call overhead and the batch's shared
   chat-template prefix, not the arithmetic (see docs/quality.md).

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


def paper_style_ifd(model, enc: tuple[list[int], list[int]]) -> float:
    """One record the way the IFD paper's code (Cherry-LLM) scores it: a plain Hugging Face
    forward per sequence with labels (-100 on the prompt), logits over the whole vocabulary
    at every position, the model's own mean loss; PyTorch's default (MKL) matmuls."""
    import torch

    p, a = enc
    with torch.no_grad():
        cond = model(input_ids=torch.tensor([p + a]), labels=torch.tensor([[-100] * len(p) + a])).loss.item()
        alone = model(input_ids=torch.tensor([a]), labels=torch.tensor([a])).loss.item()
    return cond / alone


def bench_ifd(n: int, batch_size: int, threads: int = 1, rounds: int = 3) -> dict:
    """Three ways over the same records, interleaved `rounds` times in this process at the
    same torch thread count: paper-style one at a time, our one at a time (batch_size=1:
    oneDNN, head only on loss positions), and batched."""
    import torch

    from datagen.quality.lm import IFDScorer, LMScorer

    batched = LMScorer(batch_size=batch_size, threads=threads)
    model, tok = batched.load()
    single = LMScorer(batch_size=1, _model=model, _tok=tok)
    recs = records(n)

    def paper(rs):
        return [{"value": paper_style_ifd(model, single.encode(r))} for r in rs]

    modes = {"paper_style_one_at_a_time": paper, "one_at_a_time": IFDScorer(single).score_many,
             "batched": IFDScorer(batched).score_many}
    for run in modes.values():
        run(recs[:4])  # warm-up: oneDNN weights, allocator
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    values: dict[str, list[float]] = {}
    for _ in range(rounds):
        for mode, run in modes.items():
            t0 = time.perf_counter()
            values[mode] = [s["value"] for s in run(recs)]
            seconds[mode].append(time.perf_counter() - t0)
    rate = {m: n * rounds / sum(t) for m, t in seconds.items()}

    def speedup(ref: str) -> dict:
        per_round = [a / b for a, b in zip(seconds[ref], seconds["batched"])]
        return {"speedup": round(rate["batched"] / rate[ref], 2),
                "per_round": [round(min(per_round), 2), round(max(per_round), 2)]}

    def diff(a: str, b: str) -> float:
        return float(f"{max(abs(x - y) for x, y in zip(values[a], values[b])):.2e}")

    vs_paper, vs_ours = speedup("paper_style_one_at_a_time"), speedup("one_at_a_time")
    # the arithmetic each mode does a record: transformer positions (paper style: prompt +
    # answer, then the answer alone; ours: less each sequence's last token, which predicts
    # nothing; batched: a batch's shared chat-template prefix once too) and output-head
    # positions (paper style: every position; ours: only where a loss is taken)
    enc = [batched.encode(r) for r in recs]
    paper_tok = sum(len(p) + 2 * len(a) for p, a in enc) / n
    one_tok = paper_tok - 2
    cond = sorted(((p + a, len(p)) for p, a in enc), key=lambda s: len(s[0]))
    shared = sum(LMScorer._shared_prefix(cond[b: b + batch_size]) * (len(cond[b: b + batch_size]) - 1)
                 for b in range(0, n, batch_size))
    batch_tok = one_tok - shared / n
    loss_tok = sum(2 * len(a) - 1 for _, a in enc) / n
    return {"records": n, "batch_size": batch_size, "threads": torch.get_num_threads(), "rounds": rounds,
            "paper_style_one_at_a_time_rec_per_s": round(rate["paper_style_one_at_a_time"], 2),
            "one_at_a_time_rec_per_s": round(rate["one_at_a_time"], 2),
            "batched_rec_per_s": round(rate["batched"], 2),
            "speedup_vs_paper_style": vs_paper["speedup"],
            "speedup_vs_paper_style_per_round": vs_paper["per_round"],
            "speedup_vs_optimized_one_at_a_time": vs_ours["speedup"],
            "speedup_vs_optimized_one_at_a_time_per_round": vs_ours["per_round"],
            "target": 3.0, "pass": vs_paper["speedup"] >= 3.0, "pass_against": "paper_style_one_at_a_time",
            "pass_vs_optimized_one_at_a_time": vs_ours["speedup"] >= 3.0,
            "max_abs_ifd_difference": {"batched_vs_one_at_a_time": diff("batched", "one_at_a_time"),
                                       "batched_vs_paper_style": diff("batched", "paper_style_one_at_a_time")},
            "onednn": batched.onednn,
            "positions_per_record": {"paper_style": round(paper_tok, 1), "one_at_a_time": round(one_tok, 1),
                                     "batched": round(batch_tok, 1)},
            "head_positions_per_record": {"paper_style": round(paper_tok, 1), "ours": round(loss_tok, 1)},
            "arithmetic_ratio": round(one_tok / batch_tok, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--ifd-records", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, the same for all IFD modes")
    ap.add_argument("--ifd-rounds", type=int, default=3, help="interleaved rounds of the three IFD modes")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    result = {
        "name": "quality",
        "judge": bench_judge(args.records, args.concurrency, args.delay),
        "ifd": bench_ifd(args.ifd_records, args.batch_size, args.threads, args.ifd_rounds),
        "load_avg_1m_before": round(load, 2),  # other jobs on the box slow this down
        "python": sys.version.split()[0],
    }
    write_result(result, ROOT / "bench" / "results" / "quality.json")


if __name__ == "__main__":
    main()
