"""Past one process: --executor ray vs local on one Self-QA job, and faiss IVF vs the
exact matrix for embedding dedup at 200k vectors. Writes bench/results/scale.json.

Ray: the same Self-QA job (every chunk of a generated corpus) against a loopback endpoint
that answers after 200 ms, each client capped at --concurrency requests in flight: local
(one process), Ray with 1 worker, Ray with 2 workers. The records must be identical; the
score is throughput (requests/s) relative to local and to one Ray worker.

faiss: N random normalized 384-d vectors with planted near-duplicates (cosine ~0.97);
build and per-query time of the exact matrix and of the IVF index, and IVF's recall of
the exact matches above 0.95 (target >= 0.99).

    python bench/bench_scale.py [--chunks 48] [--concurrency 4] [--vectors 200000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, loopback, write_result

WORDS = ("tea leaf river stone copper lantern orchard meadow harbor violin glacier basket falcon prairie "
         "compass marble ember quartz willow canyon beacon thistle saffron juniper").split()


def _reply(body) -> str:
    import re

    prompt = body["messages"][0]["content"]
    chunk = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    question = re.search(r"Question: (.+)$", prompt)
    if question and "\n>>>" in prompt.split(question.group(0))[0]:
        return chunk.split(". ")[0] + "."
    rng = random.Random(chunk)
    nums = re.findall(r"number (\d+)", chunk)
    qs = [f"{rng.choice(('Why', 'How', 'When'))} does {' '.join(rng.sample(WORDS, 4))} hold {n}?" for n in nums[:3]]
    return "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[2:]


def _corpus(folder: Path, chunks: int) -> Path:
    rng = random.Random(7)
    paras = [" ".join(f"The {rng.choice(WORDS)} of {rng.choice(WORDS)} holds {rng.choice(WORDS)} number {k}{j}."
                      for j in range(4)) for k in range(chunks)]
    (folder / "corpus.md").write_text("\n\n".join(paras), encoding="utf-8")
    return folder


def bench_ray(chunks: int, concurrency: int, delay: float) -> dict:
    import ray

    from datagen.filters import FilterConfig, build_chain
    from datagen.generators import run_language
    from datagen.generators.self_qa.generator import SelfQAConfig, SelfQAGenerator
    from datagen.llm import LLMConfig, make_client
    from datagen.run.executor import RayExecutor
    from datagen.run.runner import run_generator

    tmp = Path(tempfile.mkdtemp())
    docs = _corpus(tmp, chunks)
    out: dict = {"name": "ray_vs_local_self_qa", "chunks": chunks, "concurrency_per_client": concurrency,
                 "delay_s": delay}
    with loopback(_reply, delay) as server:
        url = server.url
        llm = LLMConfig(backend="openai", base_url=[url], cache=False, concurrency=concurrency)
        cfg = SelfQAConfig(docs=str(docs), lang="en", chunk_chars=200, overlap=0, batch=4, questions_per_chunk=3)

        def job(executor=None):
            gen = SelfQAGenerator(cfg)
            run_language(gen, "en")
            client = make_client(llm)
            try:
                t0 = time.perf_counter()
                res = run_generator(gen, client, build_chain(FilterConfig(embed=None, rouge=0.8), "en"),
                                    10**6, executor=executor)
                return res, time.perf_counter() - t0
            finally:
                client.close()

        local, t_local = job()
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        out["ray_start_s"] = round(time.perf_counter() - t0, 2)
        job(RayExecutor(llm, workers=2))  # warm-up: worker processes start and import datagen once
        one, t_one = job(RayExecutor(llm, workers=1))
        two, t_two = job(RayExecutor(llm, workers=2))
        ray.shutdown()
    same = [r.to_dict() for r in local.kept] == [r.to_dict() for r in one.kept] == [r.to_dict() for r in two.kept]
    rps = {k: round(res.usage["requests"] / t, 2) for k, res, t in
           (("local", local, t_local), ("ray_1_worker", one, t_one), ("ray_2_workers", two, t_two))}
    out.update({
        "records": len(local.kept), "same_records": same,
        "requests": local.usage["requests"],
        "seconds": {"local": round(t_local, 2), "ray_1_worker": round(t_one, 2), "ray_2_workers": round(t_two, 2)},
        "requests_per_s": rps,
        "ratio_ray2_vs_ray1": round(rps["ray_2_workers"] / rps["ray_1_worker"], 3),
        "ratio_ray2_vs_local": round(rps["ray_2_workers"] / rps["local"], 3),
        "ratio_ray1_vs_local": round(rps["ray_1_worker"] / rps["local"], 3),
    })
    return out


def bench_faiss(n: int, planted: int, dim: int = 384, threshold: float = 0.95) -> dict:
    import numpy as np

    from datagen.filters.embedding import EmbeddingIndex

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = rng.choice(n, planted, replace=False)
    q = x[src] + 0.012 * rng.standard_normal((planted, dim), dtype=np.float32)  # cosine ~0.97
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    far = rng.standard_normal((planted // 4, dim), dtype=np.float32)
    far /= np.linalg.norm(far, axis=1, keepdims=True)
    queries = np.concatenate([q, far])
    truth = np.full(len(queries), -1)
    for s in range(0, len(queries), 256):  # ground truth: one matrix product per slice
        sims = queries[s: s + 256] @ x.T
        best = sims.argmax(axis=1)
        truth[s: s + 256] = np.where(sims[np.arange(len(best)), best] > threshold, best, -1)

    out: dict = {"name": "faiss_ivf_vs_exact", "vectors": n, "dim": dim, "planted": planted,
                 "random_queries": len(far), "threshold": threshold, "exact_matches": int((truth >= 0).sum())}
    for kind, above in (("exact", None), ("ivf", n - 1)):
        t0 = time.perf_counter()
        idx = EmbeddingIndex(threshold, faiss_above=above)
        idx.add(x)
        build = time.perf_counter() - t0
        assert idx.kind == kind
        sample = queries if kind == "ivf" else queries[:: max(1, len(queries) // 200)]
        t0 = time.perf_counter()
        got = [idx.match(v) for v in sample]
        per_query = (time.perf_counter() - t0) / len(sample)
        ref = truth if kind == "ivf" else truth[:: max(1, len(queries) // 200)]
        found = sum(1 for g, t in zip(got, ref) if t >= 0 and g is not None and g[1] == t)
        false = sum(1 for g, t in zip(got, ref) if t < 0 and g is not None)
        out[kind] = {"build_s": round(build, 2), "query_ms": round(per_query * 1000, 3),
                     "queries": len(sample), "recall": round(found / max(1, int((ref >= 0).sum())), 4),
                     "false_matches": false}
        if kind == "ivf":
            out[kind].update(nlist=idx._ivf.nlist, nprobe=idx._ivf.nprobe)
        del idx
    out["ivf_speedup_per_query"] = round(out["exact"]["query_ms"] / out["ivf"]["query_ms"], 1)
    out["target_recall"] = 0.99
    out["pass"] = out["ivf"]["recall"] >= 0.99
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=48)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--vectors", type=int, default=200_000)
    ap.add_argument("--planted", type=int, default=2000)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    results = {"ray": bench_ray(args.chunks, args.concurrency, args.delay),
               "faiss": bench_faiss(args.vectors, args.planted),
               "load_avg_1m_before": round(load, 2), "python": sys.version.split()[0]}
    write_result(results, ROOT / "bench" / "results" / "scale.json")


if __name__ == "__main__":
    main()
