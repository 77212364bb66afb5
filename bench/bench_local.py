"""Embedded model: load time (cold from the GGUF, cached safetensors) and tokens/second.

Writes bench/results/local.json. Cold load converts the GGUF into a temporary model dir,
so the user's cache is left alone.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "local.json"

LOAD = """
import time, json, sys
t = time.perf_counter()
from datagen.llm.embedded import load_smollm2
load_smollm2(threads=1)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def timed_load(model_dir: str) -> float:
    env = {**os.environ, "DATAGEN_MODEL_DIR": model_dir}
    out = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def llama_cpp_vs_transformers(hf, batch, qs) -> dict | None:
    """The llama.cpp engine against transformers' batch on the same 8 requests and the same
    fixed-choice questions, interleaved over 3 rounds (None when llama-cpp-python is absent)."""
    from datagen.llm.llamacpp import LlamaCppChatClient, available

    if not available():
        return None
    lc = LlamaCppChatClient()
    t = time.perf_counter()
    lc._load()
    load = time.perf_counter() - t
    tps = {"llama.cpp": [], "transformers_batched_8": []}
    choose = {"llama.cpp": [], "transformers": []}
    for _ in range(3):
        for name, c in (("llama.cpp", lc), ("transformers_batched_8", hf)):
            t = time.perf_counter()
            outs = c.chat_many(batch)
            tps[name].append(sum(o[0].completion_tokens for o in outs) / (time.perf_counter() - t))
        for name, c in (("llama.cpp", lc), ("transformers", hf)):
            t = time.perf_counter()
            for q in qs:
                c.option_scores(q, ["Yes", "No"])
            choose[name].append((time.perf_counter() - t) / len(qs))
    lc.close()
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {"load_seconds": round(load, 3), "threads": 1,
            "tokens_per_second": {k: round(med(v), 1) for k, v in tps.items()},
            "speedup_vs_transformers_batched_8": round(med(tps["llama.cpp"]) / med(tps["transformers_batched_8"]), 2),
            "choose_seconds_per_question": {k: round(med(v), 3) for k, v in choose.items()},
            "choose_speedup": round(med(choose["transformers"]) / med(choose["llama.cpp"]), 2)}


def main():
    from datagen.llm.embedded import model_cache_dir

    with tempfile.TemporaryDirectory() as tmp:
        cold = timed_load(tmp)  # includes GGUF dequantization + saving
        cached = timed_load(tmp)
    warm_user_cache = timed_load(str(model_cache_dir()))

    from datagen.llm import ChatRequest
    from datagen.llm.local import LocalChatClient

    client = LocalChatClient()
    t = time.perf_counter()
    client._load()
    in_process_load = time.perf_counter() - t
    prompts = ["Write a short poem about the sea.", "Explain what a list is in Python.",
               "Give three tips for sleeping well."]
    runs = []
    for p in prompts:
        req = ChatRequest.make([{"role": "user", "content": p}], max_tokens=64, temperature=0.0)
        t = time.perf_counter()
        (out,) = client.chat_many([req])
        dt = time.perf_counter() - t
        runs.append({"tokens": out[0].completion_tokens, "seconds": round(dt, 3)})
    toks = sum(r["tokens"] for r in runs)
    secs = sum(r["seconds"] for r in runs)

    # batched: the same prompts sampled as one batch of 8 requests
    batch = [ChatRequest.make([{"role": "user", "content": prompts[i % 3]}], max_tokens=64,
                              temperature=0.8, seed=i) for i in range(8)]
    t = time.perf_counter()
    outs = client.chat_many(batch)
    batch_secs = time.perf_counter() - t
    batch_toks = sum(o[0].completion_tokens for o in outs)

    # fixed-choice questions sharing a long few-shot prefix: KV reuse vs cold forward passes
    shot = "".join(f"Task: example task number {i} about topic {i}. Is it classification? Yes\n" for i in range(40))
    qs = [[{"role": "user", "content": shot + f"Task: new task {j}. Is it classification?"}] for j in range(6)]
    t = time.perf_counter()
    for q in qs:
        client.option_scores(q, ["Yes", "No"])
    reuse_secs = time.perf_counter() - t
    t = time.perf_counter()
    for q in qs:
        client._kv, client._kv_ids = None, []  # cold: no prefix reuse
        client.option_scores(q, ["Yes", "No"])
    cold_secs = time.perf_counter() - t
    engines = llama_cpp_vs_transformers(client, batch, qs)
    result = {
        "name": "local_model",
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to fp32)",
        "torch_threads": 1,
        "load_cold_seconds": round(cold, 2),
        "load_cached_subprocess_seconds": round(cached, 2),
        "load_user_cache_subprocess_seconds": round(warm_user_cache, 2),
        "load_cached_in_process_seconds": round(in_process_load, 3),
        "note": "subprocess times include importing torch/transformers",
        "generation": runs,
        "tokens_per_second": round(toks / secs, 2),
        "batched_8_tokens_per_second": round(batch_toks / batch_secs, 2),
        "batch_speedup_ratio": round((batch_toks / batch_secs) / (toks / secs), 2),
        "choose_prefix_tokens": len(client._tok(shot)["input_ids"]),
        "choose_seconds_per_question_reused_prefix": round(reuse_secs / len(qs), 3),
        "choose_seconds_per_question_cold": round(cold_secs / len(qs), 3),
        "choose_speedup_ratio": round(cold_secs / reuse_secs, 2),
        "llama_cpp": engines,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
