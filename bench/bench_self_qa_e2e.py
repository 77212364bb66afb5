"""End to end: `datagen run self-qa` over 200 chunks against a loopback endpoint that
answers after 200 ms, concurrency 32, embedding dedup on (and, for comparison, off).

The documents: 200 paragraphs of varied synthetic prose, one JSONL row each, so each is
one chunk. The endpoint answers a question prompt with a numbered list of questions
about the chunk and an answer prompt with a sentence copied from the chunk (so the
grounding check passes). Every chunk is asked about (--num is above what 200 chunks
give): 200 question requests and up to 1,000 answer requests.

The ideal is 32 / 0.2 s = 160 requests/s; the score is the run's achieved requests/s
(over the generator's run, encoder loading included) divided by that (target >= 0.7),
and the same between the first and the last request the server saw. Pipelined rounds
(the default) and --strict-rounds run interleaved, each as a fresh `datagen` process.
Writes bench/results/self_qa_e2e.json.

    python bench/bench_self_qa_e2e.py [--chunks 200] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from pathlib import Path

from harness import ROOT, Loopback, loopback, write_result

SUBJECTS = ["the river", "the old mill", "a copper kettle", "the harbor crane", "the night market",
            "a glacier lake", "the orchard", "a violin maker", "the lighthouse", "the salt flats",
            "a falcon", "the canyon road", "the quarry", "a weaver", "the ferry", "the bell tower"]
VERBS = ["carries", "shapes", "feeds", "guards", "colours", "slows", "warms", "records", "hides", "lifts"]
OBJECTS = ["the morning fog", "spring floods", "the village bread", "migrating geese", "amber resin",
           "the winter stores", "tidal mud", "cedar smoke", "old maps", "the autumn fair", "quartz sand"]
ASKS = ["Why does", "How does", "When does", "What makes", "In what way does"]
NAMES = ["Alder", "Brisk", "Corran", "Dunmere", "Elsk", "Farrow", "Gale", "Hollin", "Ivers", "Jorun",
         "Kestle", "Lorn", "Marrow", "Nesh", "Orrin", "Pell", "Quill", "Rook", "Sable", "Tarn"]


def paragraph(k: int) -> str:
    rng = random.Random(k)
    place = f"{rng.choice(NAMES)}{rng.choice(NAMES).lower()} {k}"
    sents = [f"In {place}, {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
             f"{rng.choice(['every year', 'at dusk', 'after the rains', 'in silence', 'for the guild'])}."
             for _ in range(rng.randint(5, 7))]
    return " ".join(sents)


def write_docs(folder: Path, chunks: int) -> Path:
    path = folder / "prose.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for k in range(chunks):
            f.write(json.dumps({"id": f"p{k}", "text": paragraph(k)}) + "\n")
    return path


def reply_for(body: dict) -> str:
    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    question = re.search(r"Question: (.+)$", prompt)
    sentences = [s.strip() + "." for s in chunk.split(".") if s.strip()]
    rng = random.Random(repr(body.get("seed")) + prompt[-200:])
    if question:
        return rng.choice(sentences)
    n = int(m.group(1)) if (m := re.search(r"numbered 1\. to (\d+)", prompt)) else 5
    qs = []
    for s in rng.sample(sentences, min(n, len(sentences))):
        words = s.rstrip(".").split()
        qs.append(f"{rng.choice(ASKS)} {' '.join(words[3:9])} in {' '.join(words[1:3]).rstrip(',')}?")
    return "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[2:]  # continues the "1." prefill


def one_run(server: Loopback, docs: Path, num: int, concurrency: int, strict: bool, delay: float,
            embed: bool = True) -> dict:
    from bench_e2e import timed_run

    args = ["self-qa", "--docs", str(docs), "--lang", "en", "--num", str(num)]
    args += (["--strict-rounds"] if strict else []) + ([] if embed else ["--no-embed"])
    figures, manifest = timed_run(args, server, concurrency, delay, dataset="qa", timeout=900)
    counts = manifest["run"]["counts"]
    return {"mode": "strict" if strict else "pipelined", "embedding_dedup": embed, **figures,
            "chunks_asked": counts.get("chunks"), "questions": counts.get("questions")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=200)
    ap.add_argument("--num", type=int, default=5000, help="above what the chunks give: every chunk is asked")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "self_qa_e2e.json"))
    args = ap.parse_args()
    runs = []
    with loopback(reply_for, args.delay, prompt_tokens=300, completion_tokens=40, log=True) as server, \
            tempfile.TemporaryDirectory() as tmp:
        docs = write_docs(Path(tmp), args.chunks)
        for _ in range(args.repeats):
            for embed in (True, False):
                for strict in (False, True):  # interleaved: both modes see the same load
                    runs.append(one_run(server, docs, args.num, args.concurrency, strict, args.delay, embed))
                    print(json.dumps(runs[-1]), flush=True)
    ideal = args.concurrency / args.delay

    def best(mode, embed):
        return max((r for r in runs if r["mode"] == mode and r["embedding_dedup"] == embed),
                   key=lambda r: r["req_per_s"] or 0)

    def ratios(r):
        return {"ratio": round((r["req_per_s"] or 0) / ideal, 3),
                "ratio_while_requesting": round((r["req_per_s_while_requesting"] or 0) / ideal, 3)}

    piped = best("pipelined", True)
    ratio = (piped["req_per_s"] or 0) / ideal
    result = {
        "name": "e2e_self_qa",
        "chunks": args.chunks, "concurrency": args.concurrency, "delay_s": args.delay, "embedding_dedup": True,
        "ideal_req_per_s": ideal,
        "ratio": round(ratio, 3), "target_ratio": 0.7, "pass_ratio": ratio >= 0.7,
        "ratio_while_requesting": ratios(piped)["ratio_while_requesting"],
        "strict": ratios(best("strict", True)),
        "no_embed": {"pipelined": ratios(best("pipelined", False)), "strict": ratios(best("strict", False))},
        # the same kept set whatever the mode, with and without embedding dedup each
        "same_records": all(len({r["records"] for r in runs if r["embedding_dedup"] == e}) == 1
                            for e in (True, False)),
        "runs": runs,
    }
    write_result(result, args.out, summary_without=("runs",))


if __name__ == "__main__":
    main()
