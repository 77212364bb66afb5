"""How close `--dry-run` estimates come to the runs they estimate (docs/cost.md).

Against the stub server answering each prompt kind with realistic reply lengths (the
replies bench_e2e / bench_self_qa_kg / the tests script, tokens counted as the
estimator's chars/4 counts them), for Self-Instruct (staged and joint), Self-QA, Self-KG
and Evol-Instruct at --num 30, 80 and 300: estimate, run (v0001), estimate again with v0001
as history, run again (v0002). Each estimate's point value (`expected`) over the measured
requests, tokens and dollars. Writes bench/results/estimate_accuracy.json.

    python bench/bench_estimate.py [--nums 30,80,300] [--generators self-instruct,...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "estimate_accuracy.json"
DOCS = ROOT.parent / "shared" / "corpora" / "docs"


def tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def respond(body: dict):
    """Every generator's prompt kinds, answered as bench_e2e and bench_self_qa_kg answer."""
    from batch_server import prompt_tokens
    from bench_e2e import reply_for
    from bench_self_qa_kg import answer_from_chunk
    from stub_server import Reply, chat_body
    from test_self_kg import kg_responder

    msgs = body.get("messages") or []
    first = msgs[0]["content"] if msgs else ""
    if "<<<\n" in first:
        text = answer_from_chunk(body)
    elif re.search(r"^- .+? \| .+? \| .+$", first, re.M):
        text = kg_responder(body)
    elif "#Given Prompt#" in msgs[-1]["content"] or ("Equal" in msgs[-1]["content"] and "judgement" in msgs[-1]["content"]):
        text = _EVOL(body)
    elif body.get("seed") is not None and _evolved(msgs[-1]["content"]):
        # an evolved instruction's answer: a paragraph, as bench_e2e's answers are
        text = reply_for(body) + " " + reply_for({**body, "seed": repr(body.get("seed")) + "+"})
    else:
        text = reply_for(body)
    return Reply(body=chat_body(text, prompt_tokens=prompt_tokens(body), completion_tokens=tokens(text)))


def _evolved(text: str) -> bool:
    return bool(re.search(r"Consider \w+, \w+ and \w+ case \d+\.$", text.strip()))


def _EVOL(body):  # noqa: F811 - one evol responder for the whole bench
    global _evol
    from test_evol_instruct import evol_responder

    if "_evol" not in globals():
        _evol = evol_responder()
    return _evol(body)


def make(name: str, tmp: Path, num: int):
    from datagen.generators import get_generator

    if name.startswith("self-instruct"):
        cls = get_generator("self-instruct")
        mode = "joint" if name.endswith("joint") else "staged"
        return cls(cls.config_cls(seeds=str(ROOT / "seeds" / "self_instruct_en.jsonl"), lang="en", instance_mode=mode))
    if name == "self-qa":
        cls = get_generator("self-qa")
        return cls(cls.config_cls(docs=str(DOCS), lang="en"))
    if name == "self-kg":
        cls = get_generator("self-kg")
        return cls(cls.config_cls(triples=str(ROOT / "seeds" / "kg_en.jsonl"), lang="en"))
    cls = get_generator("evol-instruct")
    # the 175 Self-Instruct seed tasks: enough lineages for --num 300 twice (24 seeds are not)
    seeds = ROOT.parent / "shared" / "corpora" / "self_instruct_seed_tasks.jsonl"
    return cls(cls.config_cls(seeds=[str(seeds if seeds.is_file() else ROOT / "seeds" / "self_instruct_en.jsonl")],
                              lang="en"))


def one(name: str, num: int, stub) -> dict:
    from datagen.filters import FilterConfig
    from datagen.llm import LLMConfig
    from datagen.run.job import Run, RunSettings, execute

    out = {"generator": name, "num": num}
    with tempfile.TemporaryDirectory() as tmp:
        llm = LLMConfig(backend="openai", base_url=[stub.url], model="gpt-4o-mini", max_retries=0, logprobs=False,
                        cache_path=str(Path(tmp) / "c.sqlite"), concurrency=32)
        settings = dict(num=num, dataset="d", store=str(Path(tmp) / "store"), lang="en")
        for label in ("first_run", "with_history"):
            t0 = time.perf_counter()
            est = execute(Run(make(name, Path(tmp), num), RunSettings(dry_run=True, **settings), llm,
                              FilterConfig(embed=None))).estimate
            t_est = time.perf_counter() - t0
            res = execute(Run(make(name, Path(tmp), num), RunSettings(**settings), llm, FilterConfig(embed=None)))
            measured = res.ledger["total"]
            row = {"estimate_s": round(t_est, 2), "measured": {k: measured[k] for k in ("requests", "tokens", "dollars")},
                   "estimate": {k: est["total"]["expected"][k] for k in ("requests", "tokens", "dollars")},
                   "range": {end: {k: est["total"][end][k] for k in ("requests", "tokens", "dollars")}
                             for end in ("low", "high")},
                   "kept": len(res.kept), "history": est.get("history")}
            row["ratio"] = {k: round(row["estimate"][k] / row["measured"][k], 3) if row["measured"][k] else None
                            for k in ("requests", "tokens", "dollars")}
            row["within_30pct"] = all(r is not None and 0.7 <= r <= 1.3 for r in row["ratio"].values())
            out[label] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nums", default="30,80,300")
    ap.add_argument("--generators", default="self-instruct,self-instruct-joint,self-qa,self-kg,evol-instruct")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    from stub_server import StubLLMServer

    rows = []
    with StubLLMServer(respond) as stub:
        for name in args.generators.split(","):
            for num in map(int, args.nums.split(",")):
                rows.append(one(name, num, stub))
                r = rows[-1]
                print(json.dumps({"generator": name, "num": num, **{k: r[k]["ratio"] for k in ("first_run", "with_history")}}),
                      flush=True)
    ok = sum(r[k]["within_30pct"] for r in rows for k in ("first_run", "with_history"))
    result = {"name": "estimate_accuracy", "target": "estimate / measured within 0.7-1.3 for requests, tokens, dollars",
              "within": f"{ok}/{2 * len(rows)}", "pass": ok == 2 * len(rows), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("within", "pass")}))


if __name__ == "__main__":
    main()
