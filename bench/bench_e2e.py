"""End to end: `datagen run self-instruct --num 200` against a loopback endpoint that
answers each prompt kind sensibly after 200 ms, concurrency 32, embedding dedup ON.

The ideal is 32 / 0.2 s = 160 requests/s; the score is the run's achieved requests/s
(over the generator's run, model loading included) divided by that (target >= 0.85, in the
default and the --instance-mode joint runs).
Time to first request is measured by the server from the CLI process's start (target
< 3 s). Pipelined rounds (the default), --strict-rounds and --instance-mode joint are run interleaved, each
as a fresh `datagen` process. Writes bench/results/e2e.json.

    python bench/bench_e2e.py [--num 200] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, Loopback, loopback, write_result

SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "ve", "zo", "bi", "do", "fu", "ge", "ha", "jo"]
VERBS = ["Write", "Describe", "Explain", "Summarize", "List", "Compare", "Suggest", "Outline", "Plan", "Draft"]


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def reply_for(body: dict) -> str:
    """A sensible answer per prompt kind (the same routing the tests use)."""
    from test_self_instruct import kind

    user = ([m["content"] for m in body.get("messages") or [] if m.get("role") == "user"] or [""])[-1]
    rng = random.Random(repr(body.get("seed")) + user[-300:])
    k = kind(user)
    if k == "bootstrap":
        return " " + "\n".join(f"{i}. {rng.choice(VERBS)} " + " ".join(word(rng) for _ in range(8)) + "."
                               for i in range(9, 17))
    if k == "clf":
        return "Yes" if rng.random() < 0.2 else "No"
    if k == "labels":
        return "positive\nnegative"
    if k in ("clf_input", "input"):
        return " ".join(word(rng) for _ in range(12)) + "."
    if k == "followup":
        return "Can you say more about " + word(rng) + "?"
    if k == "instances":  # --instance-mode joint: continues the "Example 1\nInput:" prefill
        return " " + "\n".join(f"{'' if i == 1 else f'Example {i}' + chr(10) + 'Input: '}"
                                + " ".join(word(rng) for _ in range(12)) + ".\nOutput: Here is a full answer: "
                                + " ".join(word(rng) for _ in range(30)) + "." for i in (1, 2, 3))
    return "Here is a full answer: " + " ".join(word(rng) for _ in range(30)) + "."


def timed_run(args: list[str], server: Loopback, concurrency: int, delay: float, dataset: str = "e2e",
              timeout: int = 1800) -> tuple[dict, dict]:
    """`datagen run ARGS` in a fresh process against `server`, published to a temp store:
    (the measured figures, the version's manifest)."""
    server.stamps()  # forget requests of earlier runs
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", "from datagen.cli import main; main()", "run", *args,
               "--backend", "openai", "--base-url", server.url, "--model", "stub", "--concurrency", str(concurrency),
               "--no-cache", "--dataset", dataset, "--store", tmp]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t_start = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        wall = time.time() - t_start
        if proc.returncode != 0:
            raise RuntimeError(f"datagen failed ({proc.returncode}): {proc.stderr[-2000:]}")
        manifest = json.loads(next(Path(tmp, dataset).glob("v*/manifest.json")).read_text())
    stamps = server.stamps()
    run = manifest["run"]
    t = run.get("throughput", {})
    return {
        "wall_s": round(wall, 2),
        "run_s": run["seconds"],
        "requests": manifest["usage"]["requests"],  # calls (one per ChatRequest)
        "requests_sent": t.get("requests_sent"),  # HTTP requests: the stub ignores n, so n>1 calls send n
        "req_per_s": t.get("requests_per_s"),  # sent requests / run seconds
        "calls_per_s": round(manifest["usage"]["requests"] / run["seconds"], 2),
        "mean_in_flight": t.get("mean_in_flight"),
        "peak_in_flight": t.get("peak_in_flight"),
        "first_request_from_process_start_s": round(min(stamps) - t_start, 2) if stamps else None,
        # the request pipe alone: requests received between the first and the last one
        "req_per_s_while_requesting": round(len(stamps) / (max(stamps) - min(stamps) + delay), 2)
        if len(stamps) > 1 else None,
        "records": manifest["counts"]["records"],
        "dropped": manifest["funnel"]["dropped"],
    }, manifest


def one_run(server: Loopback, num: int, concurrency: int, strict: bool, delay: float = 0.2,
            extra: tuple[str, ...] = ()) -> dict:
    args = ["self-instruct", "--seeds", str(ROOT / "seeds" / "self_instruct_en.jsonl"), "--num", str(num), *extra]
    figures, manifest = timed_run(args + (["--strict-rounds"] if strict else []), server, concurrency, delay)
    return {"mode": "strict" if strict else "pipelined", **figures,
            "tasks": manifest["run"]["counts"].get("tasks")}


def job_args(doc: str, out: str) -> argparse.Namespace:
    """The flags of the 200-record job this bench and bench_peers share."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / out))
    return ap.parse_args()


def endpoint(delay: float):
    """The loopback endpoint this bench and bench_peers share (request times logged)."""
    return loopback(reply_for, delay, prompt_tokens=200, completion_tokens=60, log=True)


MODES = {"pipelined": (False, ()), "strict": (True, ()), "joint": (False, ("--instance-mode", "joint"))}


def main() -> None:
    args = job_args(__doc__, "e2e.json")
    runs = []
    with endpoint(args.delay) as server:
        for _ in range(args.repeats):
            for mode, (strict, extra) in MODES.items():  # interleaved: every mode sees the same load
                runs.append({**one_run(server, args.num, args.concurrency, strict, args.delay, extra), "mode": mode})
                print(json.dumps(runs[-1]), flush=True)
    ideal = args.concurrency / args.delay

    def best(mode: str) -> dict:
        return max((r for r in runs if r["mode"] == mode), key=lambda r: r["req_per_s"] or 0)

    piped, joint = best("pipelined"), best("joint")
    ratio, joint_ratio = (piped["req_per_s"] or 0) / ideal, (joint["req_per_s"] or 0) / ideal
    strict_sent = min(r["requests_sent"] for r in runs if r["mode"] == "strict")
    result = {
        "name": "e2e_self_instruct",
        "num": args.num, "concurrency": args.concurrency, "delay_s": args.delay, "embedding_dedup": True,
        "ideal_req_per_s": ideal,
        # requests sent over the whole run (start-up and the end included) / the endpoint's ideal
        "ratio": round(ratio, 3), "ratio_joint": round(joint_ratio, 3), "target_ratio": 0.85,
        "pass_ratio": ratio >= 0.85 and joint_ratio >= 0.85,
        # waste: the default mode sends no more than strict rounds do for the same --num (#27)
        "requests_sent_vs_strict": round(piped["requests_sent"] / strict_sent, 3), "target_vs_strict": 1.05,
        "pass_vs_strict": piped["requests_sent"] <= 1.05 * strict_sent,
        # the same run counted in calls rather than requests sent (what this bench reported before)
        "ratio_in_calls": round((piped["calls_per_s"] or 0) / ideal, 3),
        "ratio_while_requesting": round((piped["req_per_s_while_requesting"] or 0) / ideal, 3),
        "first_request_s": piped["first_request_from_process_start_s"], "target_first_request_s": 3.0,
        "pass_first_request": (piped["first_request_from_process_start_s"] or 99) < 3.0,
        "runs": runs,
    }
    write_result(result, args.out, summary_without=("runs",))


if __name__ == "__main__":
    main()
