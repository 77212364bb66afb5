"""Throughput of the openai backend against a loopback endpoint that answers after 200 ms.

At concurrency 32 the ideal is 32 / 0.2 s = 160 requests/second; the score is the ratio
to that (target >= 0.8). The stub runs in its own process so the server's threads do not
compete with the client for the GIL. Writes bench/results/openai.json.

    python bench/bench_openai.py [--requests 320] [--concurrency 32] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from harness import ROOT, fixed, loopback, write_result


def run(requests: int, concurrency: int, delay: float) -> dict:
    from datagen.llm.base import ChatRequest
    from datagen.llm.openai_compat import OpenAIChatClient

    with loopback(fixed("1. A benchmark answer."), delay, prompt_tokens=20, completion_tokens=5) as server:
        url = server.url
        client = OpenAIChatClient(model="stub", base_urls=[url], concurrency=concurrency, cache=None,
                                  max_retries=0)
        # warm-up: imports and opening `concurrency` connections happen once per run,
        # not once per request, so they are not what this measures
        client.chat_many([ChatRequest.make([{"role": "user", "content": f"warm up {i}"}])
                          for i in range(concurrency)])
        reqs = [ChatRequest.make([{"role": "user", "content": f"Write instruction {i}."}], seed=i)
                for i in range(requests)]
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        out = client.chat_many(reqs)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        client.close()
    assert len(out) == requests and all(o[0].text for o in out)
    ideal = concurrency / delay
    req_per_s = requests / seconds
    ratio = req_per_s / ideal
    return {
        "name": "openai_backend_throughput",
        "requests": requests,
        "concurrency": concurrency,
        "delay_s": delay,
        "seconds": round(seconds, 3),
        "req_per_s": round(req_per_s, 1),
        "ideal_req_per_s": round(ideal, 1),
        "ratio": round(ratio, 3),
        "target": 0.8,
        "pass": ratio >= 0.8,
        "client_cpu_ms_per_request": round(cpu / requests * 1000, 2),
        "load_avg_1m_before": round(load, 2),  # other jobs on the box slow this down
        "python": sys.version.split()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=320)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "openai.json"))
    args = ap.parse_args()
    write_result(run(args.requests, args.concurrency, args.delay), args.out)


if __name__ == "__main__":
    main()
