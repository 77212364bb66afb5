"""GPU training throughput: `datagen train` against plain TRL SFTTrainer, same model, data
and LoRA settings. Writes bench/results/train_gpu.json.

    make bench-train                                   # embedded SmolLM2-135M
    .venv/bin/python bench/bench_train_gpu.py --base-model /models/Qwen2.5-7B-Instruct --steps 50

Without a CUDA GPU it writes {"skipped": true, "reason": ...} and exits 0, so it can sit
in any bench loop. Both runs use bf16 (fp16 on GPUs without it), gradient checkpointing,
r 8 / alpha 16 / dropout 0.05 on q/v, and the same records; datagen's run also tokenizes
with assistant-only masks, so the difference is the cost of datagen's wrapping.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULT = ROOT / "bench" / "results" / "train_gpu.json"

WORDS = ("data model train token answer question river mountain city number colour history music science "
         "garden kitchen window letter market school planet ocean forest engine paper story light").split()


def records(n: int, seed: int = 0):
    """Deterministic instruction/answer pairs of varied length (20-200 words of answer)."""
    from datagen.records import Record

    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
        answer = " ".join(rng.choices(WORDS, k=rng.randint(20, 200)))
        out.append(Record(instruction=f"Write a note about: {topic} (#{i})", output=answer.capitalize() + "."))
    return out


def write(result: dict) -> None:
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def run_datagen(args, store_root: Path, out: Path) -> dict:
    from datagen.train import TrainConfig, train

    cfg = TrainConfig(dataset="bench", store=str(store_root), base_model=args.base_model, out=str(out),
                      max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                      eval_fraction=0, logging_steps=max(1, args.steps // 10), seed=0)
    rep = train(cfg, progress=False)
    return {k: rep[k] for k in ("steps", "train_seconds", "tokens_seen", "tokens_per_second", "peak_memory_mb",
                                "train_loss", "trainable_params")} | {"precision": rep["hyperparameters"]["precision"]}


def run_trl(args, recs, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from datagen.train.model import load_model, load_tokenizer, pick_precision, resolve_base_model

    # the same loading code as datagen's run, so only the training path differs
    base = resolve_base_model(args.base_model)
    precision = pick_precision("auto")
    set_seed(0)
    tok = load_tokenizer(base)
    model = load_model(base, precision)
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r.instruction}],
                             "completion": [{"role": "assistant", "content": r.output}]} for r in recs])
    sft = SFTConfig(output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                    learning_rate=2e-4, lr_scheduler_type="cosine", max_length=args.max_length,
                    bf16=precision == "bf16", fp16=precision == "fp16", gradient_checkpointing=True,
                    gradient_checkpointing_kwargs={"use_reentrant": False}, report_to="none",
                    save_strategy="no", logging_steps=max(1, args.steps // 10), seed=0, disable_tqdm=True)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=sft, train_dataset=ds, processing_class=tok, peft_config=lora)
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = trainer.train()
    seconds = time.perf_counter() - t0
    tokens = max([e.get("num_tokens", 0) for e in trainer.state.log_history] + [0])
    return {"steps": trainer.state.global_step, "train_seconds": round(seconds, 3), "tokens_seen": int(tokens),
            "tokens_per_second": round(tokens / seconds, 1), "train_loss": round(res.training_loss, 6),
            "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1), "precision": precision}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-model", default="embedded")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--records", type=int, default=512)
    args = p.parse_args()

    import torch

    if not torch.cuda.is_available():
        write({"name": "train_gpu", "skipped": True, "reason": "no CUDA GPU on this machine",
               "torch": torch.__version__, "machine": platform.machine()})
        return 0

    from datagen.store import DatasetStore

    recs = records(args.records)
    result = {"name": "train_gpu", "skipped": False, "gpu": torch.cuda.get_device_name(0),
              "torch": torch.__version__, "base_model": args.base_model, "steps": args.steps,
              "batch_size": args.batch_size, "max_length": args.max_length, "records": args.records}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        DatasetStore(tmp / "store").publish("bench", recs, [], {})
        # TRL first so datagen's run is not the one paying for CUDA and kernel warm-up
        result["trl_sft"] = run_trl(args, recs, tmp / "trl")
        torch.cuda.empty_cache()
        result["datagen"] = run_datagen(args, tmp / "store", tmp / "datagen")
    d, t = result["datagen"], result["trl_sft"]
    result["tokens_per_second_ratio"] = round(d["tokens_per_second"] / t["tokens_per_second"], 3) \
        if t["tokens_per_second"] else None
    result["peak_memory_ratio"] = round(d["peak_memory_mb"] / t["peak_memory_mb"], 3) if t["peak_memory_mb"] else None
    write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
