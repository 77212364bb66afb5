"""`datagen eval`: the base model and each adapter on a held-out set, side by side.

Steps: load the eval set (a file, or the Self-Instruct seeds the training version held
out), refuse or drop items that overlap any adapter's training data, generate greedily
with the base and each adapter, score (ROUGE-L, exact match on label items, reference
loss, optionally an LLM judge in both orders), then write eval_report.json and eval.png
and a summary per trained dataset version in the store (see history.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError, DataError
from ..records import Record
from ..text import LANGS
from .adapters import train_report
from .config import EvalConfig
from .metrics import exact_match, is_label_item, mean, rouge_l
from .overlap import find_overlaps

REPORT = "eval_report.json"
PLOT = "eval.png"


@dataclass
class EvalSet:
    records: list[Record]
    source: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _store(data: dict[str, Any], store: str | None):
    from ..store import DatasetStore

    return DatasetStore(store or data.get("store"))


def training_records(report: dict[str, Any], store: str | None = None) -> tuple[list[Record], str] | None:
    """The records an adapter was trained on (from its train_report), and their name."""
    data = report.get("data") or {}
    if data.get("dataset"):
        ref = f"{data['dataset']}@{data['version']}"
        return _store(data, store).resolve(ref).records(), ref
    if data.get("data") and Path(data["data"]).is_file():
        from ..io import read_records

        return read_records(data["data"]), data["data"]
    return None


def held_out_seeds(report: dict[str, Any], store: str | None = None) -> EvalSet:
    """The seed tasks a Self-Instruct run held out (manifest `held_out`), read back from
    the seed files, every instance an item."""
    from ..io import read_records

    data = report.get("data") or {}
    if not data.get("dataset"):
        raise ConfigError("eval: give --eval FILE (the adapter was not trained on a store version, "
                          "so there are no held-out seeds to use)")
    ref = f"{data['dataset']}@{data['version']}"
    manifest = _store(data, store).resolve(ref).manifest
    held = manifest.get("held_out") or {}
    ids = set(held.get("seed_ids") or [])
    if not ids:
        raise ConfigError(f"eval: {ref} holds out no seeds (set hold_out_seeds in the self-instruct config, "
                          "or give --eval FILE)")
    records = []
    for path in held.get("files") or []:
        if not Path(path).is_file():
            raise ConfigError(f"eval: seed file {path} named in {ref}'s manifest is gone")
        records += [r for r in read_records(path) if str(r.meta.get("task_id") or r.id) in ids]
    sha = hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()
    return EvalSet(records, {"held_out_seeds_of": ref, "seed_ids": sorted(ids), "files": held.get("files"),
                             "sha256": sha})


def load_eval_set(cfg: EvalConfig, report: dict[str, Any]) -> EvalSet:
    if cfg.eval:
        from ..io import read_records
        from ..store import file_sha256

        return EvalSet(read_records(cfg.eval), {"eval": cfg.eval, "sha256": file_sha256(cfg.eval)})
    return held_out_seeds(report, cfg.store)


def check_overlap(es: EvalSet, adapters: list[str], reports: list[dict], cfg: EvalConfig) -> EvalSet:
    """Refuse (ConfigError) or drop eval items overlapping any adapter's training data."""
    where = cfg.eval or es.source.get("held_out_seeds_of", "eval set")
    hits: dict[int, str] = {}
    checked = []
    for adapter, rep in zip(adapters, reports):
        found = training_records(rep, cfg.store)
        if found is None:
            es.notes.append(f"overlap not checked for {adapter}: its training data is unknown")
            continue
        recs, name = found
        if name in checked:
            continue
        checked.append(name)
        for i, reason in find_overlaps(es.records, recs, cfg.ngram):
            hits.setdefault(i, reason)
    es.source["overlap_checked_against"] = checked
    if not hits:
        es.source["dropped_overlap"] = []
        return es
    first = min(hits)
    if cfg.overlap == "refuse":
        raise ConfigError(f"{where}: {len(hits)} of {len(es.records)} items overlap the training data of "
                          f"{', '.join(checked)} (first: item {first + 1}, {hits[first]}); "
                          "pass --overlap drop to evaluate the rest")
    dropped = [{"item": i + 1, "id": es.records[i].id, "reason": hits[i]} for i in sorted(hits)]
    es.notes.append(f"dropped {len(hits)} of {len(es.records)} items overlapping the training data "
                    f"({', '.join(str(d['id'] or d['item']) for d in dropped[:10])}"
                    f"{' …' if len(dropped) > 10 else ''})")
    es.records = [r for i, r in enumerate(es.records) if i not in hits]
    es.source["dropped_overlap"] = dropped
    return es


def _label(i: int, adapter: str, rep: dict) -> str:
    d = rep.get("data") or {}
    return f"{d['dataset']}@{d['version']}" if d.get("dataset") else Path(adapter).name or f"adapter{i + 1}"


def run_eval(cfg: EvalConfig, progress: bool = False) -> dict[str, Any]:
    """Evaluate; write OUT/eval_report.json and OUT/eval.png; return the report."""
    from ..train.infer import base_for_adapter
    from .models import generate_batch, load_models, prompt_and_reference, reference_losses
    from .report import plot_eval, write_summaries

    t0 = time.perf_counter()
    if not cfg.adapters:
        raise ConfigError("eval: give at least one --adapter DIR")
    for a in cfg.adapters:
        if not (Path(a) / "adapter_config.json").is_file():
            raise ConfigError(f"no adapter in {a} (expected adapter_config.json from `datagen train`)")
    reports = [train_report(a) for a in cfg.adapters]
    es = load_eval_set(cfg, reports[0])
    es = check_overlap(es, cfg.adapters, reports, cfg)
    system = cfg.system if cfg.system is not None else (reports[0].get("hyperparameters") or {}).get("system")
    items, prompts, convs = [], [], []
    skipped = 0
    for rec in es.records:
        pr = prompt_and_reference(rec, system)
        if pr is None or not pr[1].strip():
            skipped += 1
            continue
        items.append(rec)
        prompts.append(pr[0])
        convs.append(pr[0] + [{"role": "assistant", "content": pr[1]}])
    if cfg.max_items:
        items, prompts, convs = items[:cfg.max_items], prompts[:cfg.max_items], convs[:cfg.max_items]
    if not items:
        raise DataError(cfg.eval or es.source.get("held_out_seeds_of", "eval set"), None,
                        "no eval item with a reference answer")
    es.source["items"] = len(items)
    es.source["skipped_no_reference"] = skipped
    refs = [c[-1]["content"] for c in convs]

    base_spec = cfg.base_model or base_for_adapter(cfg.adapters[0])
    lm = load_models(base_spec, cfg.adapters, cfg.precision, cfg.threads)
    model_ids = ["base"] + [f"adapter{i + 1}" for i in range(len(cfg.adapters))]
    answers: dict[str, list[str]] = {}
    losses: dict[str, list[float | None]] = {}
    for k, mid in enumerate(model_ids):
        with lm.use(None if k == 0 else k - 1):
            if progress:
                print(f"eval: {mid}: {len(items)} answers", flush=True)
            answers[mid] = generate_batch(lm, prompts, cfg.max_new_tokens, cfg.batch_size)
            losses[mid] = reference_losses(lm, convs, cfg.batch_size)

    from ..llm.ledger import usage_of

    judged: dict[str, list[dict]] = {}
    judge_info = None
    usage = usage_of(None, "eval: the local model only, no paid calls")
    if cfg.judge_base_url:
        from ..llm import LLMConfig, make_client
        from ..prompts import load_prompt
        from ..text import detect_lang
        from .judge import PROMPT, judge_pairs

        lang = cfg.lang if cfg.lang in LANGS else detect_lang([r.instruction for r in items])
        client = make_client(LLMConfig(backend="openai", base_url=[cfg.judge_base_url], model=cfg.judge_model,
                                       concurrency=cfg.judge_concurrency))
        try:
            for mid in model_ids[1:]:
                judged[mid] = judge_pairs(client, items, answers[mid], answers["base"], lang)
        finally:
            client.close()
        usage = usage_of(client)
        judge_info = {"base_url": cfg.judge_base_url, "model": cfg.judge_model, "lang": lang,
                      "prompt": f"{lang}/{PROMPT}", "prompt_sha": load_prompt(PROMPT, lang).sha}

    per_item = []
    for i, rec in enumerate(items):
        label = is_label_item(rec)
        outs = {}
        for mid in model_ids:
            o = {"answer": answers[mid][i], "rouge_l": round(rouge_l(answers[mid][i], refs[i]), 6),
                 "ref_loss": losses[mid][i]}
            if label:
                o["exact_match"] = exact_match(answers[mid][i], refs[i])
            if mid in judged:
                o["judge"] = judged[mid][i]
            outs[mid] = o
        per_item.append({"id": rec.id, "instruction": rec.instruction, "input": rec.input, "reference": refs[i],
                         "label_item": label, "task_type": rec.meta.get("task_type"), "outputs": outs})

    from .judge import tally

    overall = {}
    for mid in model_ids:
        ov = {"rouge_l": mean(p["outputs"][mid]["rouge_l"] for p in per_item),
              "exact_match": mean(p["outputs"][mid].get("exact_match") for p in per_item),
              "exact_match_items": sum(p["label_item"] for p in per_item),
              "ref_loss": mean(p["outputs"][mid]["ref_loss"] for p in per_item)}
        if mid in judged:
            ov["judge"] = tally([j["outcome"] for j in judged[mid]])
        overall[mid] = ov

    models = [{"id": "base", "label": "base", "name": lm.base_name, "spec": base_spec}]
    for i, (a, rep) in enumerate(zip(cfg.adapters, reports)):
        d = rep.get("data") or {}
        models.append({"id": model_ids[i + 1], "label": _label(i, a, rep), "adapter_dir": str(a),
                       "trained_on": {k: d.get(k) for k in ("dataset", "version", "data", "data_sha256") if d.get(k)},
                       "train_steps": rep.get("steps"),
                       "train_seed": (rep.get("hyperparameters") or {}).get("seed")})
    out = Path(cfg.out or cfg.adapters[0])
    report = {
        "datagen_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": models,
        "eval_set": es.source,
        "notes": es.notes,
        "seed": cfg.seed,
        "generation": {"greedy": True, "max_new_tokens": cfg.max_new_tokens, "batch_size": cfg.batch_size,
                       "system": system},
        "judge": judge_info,
        "usage": usage,
        "device": lm.device,
        "precision": lm.precision,
        "overall": overall,
        "items": per_item,
    }
    out.mkdir(parents=True, exist_ok=True)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    report["report_path"] = str(out / REPORT)
    plot_eval(report, out / PLOT)
    from ..io import write_json

    write_json(out / REPORT, report)
    report["summaries"] = write_summaries(report, cfg.store)
    return report
