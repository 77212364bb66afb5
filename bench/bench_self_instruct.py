"""Self-Instruct overhead without a model: reply parsing speed, and a full loop against
the stub server (so the numbers are datagen's own cost: prompts, parsing, filters, HTTP).

Writes bench/results/self_instruct.json. Model speed is bench_local.py's business.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CORPORA = Path(os.environ.get("DATAGEN_CORPORA", ROOT.parent / "shared" / "corpora"))


def bench_parse() -> dict:
    from datagen.generators.self_instruct.prompts import parse_labels, parse_numbered_list

    seeds = [json.loads(line)["instruction"] for line in open(CORPORA / "self_instruct_seed_tasks.jsonl")]
    replies = ["\n".join(f"{i}. {t}" for i, t in enumerate(seeds[k:k + 8], 9)) for k in range(0, 168, 8)]
    n = 0
    t0 = time.perf_counter()
    for _ in range(50):
        for r in replies:
            n += len(parse_numbered_list(r)[0])
            parse_labels("positive\nnegative\nneutral", 5)
    dt = time.perf_counter() - t0
    return {"replies": 50 * len(replies), "items": n, "seconds": round(dt, 3),
            "items_per_s": round(n / dt)}


def bench_loop(num: int = 200) -> dict:
    """A run of `num` tasks where every bootstrap reply holds 8 fresh instructions (taken
    from the 175 real seeds' user-oriented sibling set), so the filters see real text."""
    from datagen.filters import FilterConfig, build_chain
    from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
    from datagen.llm import LLMConfig, make_client
    from datagen.run.runner import run_generator
    from stub_server import StubLLMServer

    fresh = [json.loads(line)["instruction"] for line in open(CORPORA / "self_instruct_user_oriented.jsonl")]
    state = {"next": 0}

    def responder(body):
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if "Continue the numbered list" in user:
            k = state["next"]
            state["next"] += 8
            items = [fresh[(k + j) % len(fresh)] for j in range(8)]
            return " " + "\n".join(f"{9 + j}. {t}" for j, t in enumerate(items)).split(". ", 1)[1]
        if user.rstrip().endswith("Classification:"):
            return "Yes" if "classify" in user.lower()[-200:] else "No"
        if "List the possible answers" in user:
            return "yes\nno"
        if "whose correct answer" in user:
            return "An input for label " + user.rstrip().split("Label: ")[-1].split("\n")[0]
        if "Write one realistic input" in user:
            return f"Input number {len(user) % 97}"
        return "A helpful answer of a few words."

    with tempfile.TemporaryDirectory() as tmp, StubLLMServer(responder) as stub:
        os.environ["DATAGEN_CACHE_DIR"] = tmp
        gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(CORPORA / "self_instruct_seed_tasks.jsonl")],
                                                       batch=8, instances=2))
        client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", cache=False,
                                       concurrency=8))
        chain = build_chain(FilterConfig(embed=None), gen.lang)
        t0 = time.perf_counter()
        result = run_generator(gen, client, chain, num)
        dt = time.perf_counter() - t0
        client.close()
    return {"tasks_asked": num, "tasks": gen.report.counts.get("tasks", 0), "records": len(result.kept),
            "rejects": len(result.rejects), "requests": result.usage.get("requests", 0),
            "rounds": gen.report.counts.get("rounds", 0), "seconds": round(dt, 2),
            "requests_per_s": round(result.usage.get("requests", 0) / dt, 1),
            "stop_reason": gen.report.stop_reason}


def main() -> None:
    out = {"python": platform.python_version(), "cpus": os.cpu_count(),
           "parse": bench_parse(), "stub_loop": bench_loop()}
    path = ROOT / "bench" / "results" / "self_instruct.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
