"""datagen against its peers on one job: 200 instruction + answer records from a loopback
endpoint that answers after 200 ms, concurrency 32 everywhere, runs interleaved.

- datagen: `datagen run self-instruct --num 200` with embedding dedup ON (it also
  classifies, makes instances and filters: more requests than the peers send), and the
  same with `--instance-mode joint` (a task's instances in one reply: fewer requests).
- Curator (bespokelabs-curator) and distilabel: write an instruction per topic, then answer
  it — two requests per record, no filtering.

The peers are installed into their own venvs under bench/work/ (skipped cleanly when they
cannot be installed). Targets: datagen's wall time <= 0.5x the faster peer's, and
<= 0.6x with --instance-mode joint (#27). Writes bench/results/peers.json.

    python bench/bench_peers.py [--num 200] [--repeats 1]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
WORK = ROOT / "bench" / "work"

PEERS = {"curator": ["bespokelabs-curator"], "distilabel": ["distilabel[openai]", "requests"]}

CURATOR = r"""
import os, sys
os.environ.setdefault("OPENAI_API_KEY", "sk-stub")
from bespokelabs import curator
url, num, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
params = {"base_url": url, "api_key": "sk-stub", "max_requests_per_minute": 100000,
          "max_tokens_per_minute": 100000000, "max_retries": 1, "require_all_responses": False}

class Instr(curator.LLM):
    def prompt(self, row): return f"Write one new instruction about {row['topic']}."
    def parse(self, row, response): return {"topic": row["topic"], "instruction": response}

class Answer(curator.LLM):
    def prompt(self, row): return row["instruction"]
    def parse(self, row, response): return {"instruction": row["instruction"], "output": response}

topics = [{"topic": f"topic {i}"} for i in range(num)]
instr = Instr(model_name="stub", backend="openai", backend_params=params)(topics)
out = Answer(model_name="stub", backend="openai", backend_params=params)(instr.dataset)
print("records", len(out.dataset))
"""

DISTILABEL = r"""
import sys
from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, KeepColumns
from distilabel.steps.tasks import TextGeneration
url, num, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def llm():
    return OpenAILLM(model="stub", base_url=url, api_key="sk-stub", max_retries=0)

with Pipeline(name="peers-bench") as p:
    load = LoadDataFromDicts(data=[{"instruction": f"Write one new instruction about topic {i}."}
                                   for i in range(num)], batch_size=conc)
    instr = TextGeneration(llm=llm(), input_batch_size=conc, output_mappings={"generation": "task"})
    keep = KeepColumns(columns=["task"], output_mappings={"task": "instruction"})
    answer = TextGeneration(llm=llm(), input_batch_size=conc)
    load >> instr >> keep >> answer
ds = p.run(use_cache=False)
print("records", len(ds["default"]["train"]))
"""


def peer_python(name: str) -> Path | None:
    """bench/work/<name>/bin/python with the peer installed, installing it if needed."""
    venv = WORK / name
    py = venv / "bin" / "python"
    if not py.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            return None
    mod = "bespokelabs.curator" if name == "curator" else "distilabel"
    check = f"import {mod}" + ("; import distilabel.models, requests" if name == "distilabel" else "")
    if subprocess.run([str(py), "-c", check], capture_output=True).returncode != 0:
        inst = subprocess.run([str(py), "-m", "pip", "install", "-q", *PEERS[name]], capture_output=True, text=True)
        if inst.returncode != 0:
            print(f"skip {name}: install failed: {inst.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
    return py


def run_peer(name: str, py: Path, url: str, num: int, conc: int) -> dict:
    script = CURATOR if name == "curator" else DISTILABEL
    env = dict(os.environ, OPENAI_API_KEY="sk-stub", CURATOR_DISABLE_CACHE="1",
               CURATOR_VIEWER="0", HOME=str(WORK / f"home-{name}"))
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    # Curator counts tokens with tiktoken, which downloads cl100k_base on first use; litellm
    # (one of its dependencies) ships that file, so point tiktoken at it (no network here)
    bundled = next(py.parent.parent.glob("lib/python*/site-packages/litellm/litellm_core_utils/tokenizers"), None)
    if bundled is not None:
        env.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    t0 = time.time()
    proc = subprocess.run([str(py), "-c", script, url, str(num), str(conc)], capture_output=True, text=True,
                          env=env, timeout=1800, cwd=str(WORK))
    wall = time.time() - t0
    ok = proc.returncode == 0 and "records" in proc.stdout
    return {"tool": name, "wall_s": round(wall, 2), "ok": ok,
            "records": int(proc.stdout.split("records")[-1].split()[0]) if ok else None,
            **({} if ok else {"error": (proc.stderr or proc.stdout).strip()[-600:]})}


def main() -> None:
    import bench_e2e as E
    from harness import write_result

    args = E.job_args(__doc__, "peers.json")
    peers = {n: py for n in PEERS if (py := peer_python(n)) is not None}
    runs = []
    with E.endpoint(args.delay) as server:
        for _ in range(args.repeats):  # interleaved: every tool sees the same load
            for tool, extra in (("datagen", ()), ("datagen_joint", ("--instance-mode", "joint"))):
                r = E.one_run(server, args.num, args.concurrency, False, args.delay, extra)
                runs.append({"tool": tool, "wall_s": r["wall_s"], "ok": True, "records": r["records"],
                             "requests": r["requests"], "requests_sent": r["requests_sent"], "tasks": r["tasks"]})
                print(json.dumps(runs[-1]), flush=True)
            for name, py in peers.items():
                server.stamps()  # count only this run's requests
                runs.append(run_peer(name, py, server.url, args.num, args.concurrency))
                runs[-1]["requests_sent"] = len(server.stamps())
                print(json.dumps(runs[-1]), flush=True)

    def median(tool):
        xs = sorted(r["wall_s"] for r in runs if r["tool"] == tool and r["ok"])
        return xs[len(xs) // 2] if xs else None

    ours = median("datagen")
    theirs = {n: median(n) for n in peers}
    fastest = min((v for v in theirs.values() if v), default=None)
    ratio = round(ours / fastest, 3) if ours and fastest else None

    def per_record(tool):  # median wall seconds per published record
        xs = sorted(r["wall_s"] / r["records"] for r in runs if r["tool"] == tool and r["ok"] and r["records"])
        return xs[len(xs) // 2] if xs else None

    ours_pr = per_record("datagen")
    theirs_pr = {n: per_record(n) for n in peers}
    fastest_pr = min((v for v in theirs_pr.values() if v), default=None)
    joint = median("datagen_joint")
    joint_ratio = round(joint / fastest, 3) if joint and fastest else None
    result = {"name": "peers", "num": args.num, "concurrency": args.concurrency, "delay_s": args.delay,
              "embedding_dedup": True, "median_wall_s": {"datagen": ours, **theirs},
              "ratio_to_fastest_peer": ratio, "target": 0.5, "pass": ratio is not None and ratio <= 0.5,
              # the same, per published record: datagen's job makes several instances per task
              "median_wall_s_per_record": {"datagen": ours_pr, **theirs_pr},
              "ratio_per_record_to_fastest_peer": round(ours_pr / fastest_pr, 3) if ours_pr and fastest_pr else None,
              "requests_sent": {r["tool"]: r.get("requests_sent") for r in runs if r["ok"]},
              # --instance-mode joint: a generation task's instances in one reply (the paper's way)
              # target (#27): joint <= 0.6x the faster peer's wall
              "joint": {"median_wall_s": joint, "ratio_to_fastest_peer": joint_ratio, "target": 0.6,
                        "pass": joint_ratio is not None and joint_ratio <= 0.6,
                        "ratio_per_record_to_fastest_peer": round(per_record("datagen_joint") / fastest_pr, 3)
                        if per_record("datagen_joint") and fastest_pr else None},
              "skipped": sorted(set(PEERS) - set(peers)), "runs": runs}
    write_result(result, args.out, summary_without=("runs",))


if __name__ == "__main__":
    main()
