"""`--dry-run`: what a run would cost, before it costs anything.

The generator runs against a RecordingClient (llm/recording.py), which sends nothing and
answers with placeholder text, so the real prompts of the first round(s) are built by the
generator's own code. Their tokens are counted (tiktoken, the local tokenizer, or a
labelled chars/4), and multiplied by the calls a kept record takes: from the dataset's
earlier manifests when there are any (their ledgers also give the mean reply length),
else from the probe itself. The result is a low–high range of requests, tokens and dollars.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from ..llm.ledger import Ledger, PriceTable, TokenCounter
from ..llm.recording import ProbeDone
from .runner import RunResult

PROBE_REQUESTS = 2500  # enough to simulate a whole run of a few hundred records (nothing is sent)
REPLY_SHARE = 0.4  # without history, a reply is expected to use this share of its max_tokens


def history(settings) -> list[dict[str, Any]]:
    """Per earlier version of the dataset: kept count and its ledger rows by stage."""
    if not settings.dataset:
        return []
    from ..store import DatasetStore

    store = DatasetStore(settings.store)
    out = []
    for v in store.versions(settings.dataset)[-5:]:
        m = store.resolve(f"{settings.dataset}@{v}").manifest
        ledger = (m.get("usage") or {}).get("ledger") or {}
        # calls per record asked for (--num), not per record kept: generators overshoot
        # --num by a steady share (several instances per task), and the estimate is for a --num
        asked = ((m.get("config") or {}).get("run") or {}).get("num") or 0
        if asked and ledger.get("stages") and not m.get("stopped"):
            out.append({"version": v, "kept": asked, "stages": ledger["stages"]})
    return out


def estimate_run(gen, settings, llm_cfg, filter_cfg, lang: str) -> RunResult:
    """Probe the generator, then scale to `settings.num` records. Nothing is sent or written."""
    from ..filters import build_chain
    from ..llm import recording_client

    model = llm_cfg.resolved_model()
    rec = recording_client(llm_cfg, PROBE_REQUESTS)
    past = history(settings)
    if settings.dataset:
        from ..store import DatasetStore
        from .publish import version_seed

        store = DatasetStore(settings.store)
        gen.reseed(version_seed(gen.seed, store.next_version(settings.dataset)))
        parent = store.latest(settings.dataset)
        gen.continue_from(parent.records() if parent else [])  # the order the refresh will ask in
    # embedding dedup would load an encoder to compare placeholder text: off for the probe
    chain = build_chain(dataclasses.replace(filter_cfg, embed=None), lang)
    kept, finished, tasks = 0, False, set()
    try:
        for outcome in gen.generate(rec, chain, settings.num):
            if outcome.verdict.kept:
                kept += 1
                tasks.add(outcome.record.meta.get("task_id"))
        finished = True
    except ProbeDone:
        pass
    finally:
        rec.close()
    # what --num counts (Self-Instruct: tasks, each with several records)
    if gen.num_counts == "tasks":
        kept = len(tasks - {None})
    # a probe that ran to the end simulated the whole run: its calls are for --num records
    per = settings.num if finished else kept
    counter = TokenCounter(llm_cfg.backend, model)
    est = scale(rec.recorded, per, settings.num, counter, past)
    est["probe"]["kept"], est["probe"]["finished"] = kept, finished
    ledger = Ledger(llm_cfg.backend, model, prices=PriceTable.load(llm_cfg.prices))  # prices, not a run's
    price, batch = ledger.price, llm_cfg.batch_api
    for row in est["stages"] + [est["total"]]:
        for end in ("expected", "low", "high"):
            t = row[end]
            d = ledger.dollars(t["prompt_tokens"], t["completion_tokens"], batch)
            t["dollars"] = None if d is None else round(d, 4)
    est.update(generator=gen.name, num=settings.num, unit=gen.num_counts, model=model, backend=llm_cfg.backend, tokenizer=counter.method,
               batch=batch, price=None if price is None else {"input": price.input, "output": price.output,
                                                             "as_of": price.as_of, "source": price.source})
    est["warnings"] = cap_warnings(est["total"]["high"], settings)
    return RunResult(generator=gen.name, estimate=est)


def scale(recorded, kept: int, num: int, counter: TokenCounter, past: list[dict]) -> dict[str, Any]:
    """Per stage and in total: low/high requests, prompt and completion tokens for `num` records."""
    by_stage: dict[str, list] = defaultdict(list)
    for r in recorded:
        by_stage[r.stage].append(r)
    hist = _history_rates(past)
    stages, unseen = [], []
    for stage, reqs in by_stage.items():
        if hist and stage not in hist:
            # the placeholders took a branch the real model's replies never did (e.g. a
            # classification task): the earlier versions know better than the probe
            unseen.append(stage)
            continue
        sent = [r for r in reqs if not r.cached]
        share_sent = len(sent) / len(reqs)
        prompt = sum(counter.prompt_tokens(r.messages) for r in reqs) / len(reqs)
        max_out = sum(r.max_tokens * r.n for r in reqs) / len(reqs)
        # the probe's replies are sized as real ones run (llm/recording.py): their length
        probe_out = sum(counter.count("x" * r.reply_chars) if r.reply_chars else 0 for r in reqs) / len(reqs)
        h = hist.get(stage)
        if h:
            lo_rate, hi_rate = h["per_kept"][0] * 0.9, h["per_kept"][1] * 1.1
            lo_out, hi_out = h["completion"] * 0.9, h["completion"] * 1.1
            rate, out = sum(h["per_kept"]) / 2, h["completion"]
            # what the endpoint billed per request (a server that ignores n bills each re-ask)
            prompt = h["prompt"] or prompt
        else:
            rate = len(reqs) / max(kept, 1)
            lo_rate, hi_rate = rate, rate * 1.5  # real replies fail filters more often than placeholders
            lo_out, hi_out = max_out * 0.25, max_out
            out = probe_out or max_out * REPLY_SHARE
        row = {"stage": stage, "probe_requests": len(reqs), "prompt_tokens_per_request": round(prompt, 1),
               "source": "history" if h else "probe"}
        for end, rate, out in (("expected", rate, out), ("low", lo_rate, lo_out), ("high", hi_rate, hi_out)):
            n = rate * num * share_sent
            row[end] = {"requests": round(n), "prompt_tokens": round(n * prompt), "completion_tokens": round(n * out)}
            row[end]["tokens"] = row[end]["prompt_tokens"] + row[end]["completion_tokens"]
            # of the completion tokens, a reasoning model's thinking: only history knows it
            row[end]["reasoning_tokens"] = round(n * h["reasoning"] * out / h["completion"]) if h and h["completion"] else 0
        for k in ("requests", "prompt_tokens", "completion_tokens", "tokens", "reasoning_tokens"):
            # the range holds the expected value (reply lengths from the probe may pass a quarter of max_tokens)
            row["low"][k] = min(row["low"][k], row["expected"][k])
            row["high"][k] = max(row["high"][k], row["expected"][k])
        stages.append(row)
    total = {end: {k: sum(s[end][k] for s in stages)
                   for k in ("requests", "prompt_tokens", "completion_tokens", "tokens", "reasoning_tokens")}
             for end in ("expected", "low", "high")}
    return {"stages": stages, "total": total, "probe": {"requests": len(recorded), "kept": kept,
                                                         "cached": sum(r.cached for r in recorded)},
            "history": [p["version"] for p in past], "left_out": unseen}


def _history_rates(past: list[dict]) -> dict[str, dict[str, Any]]:
    """stage -> requests per kept record (min, max over versions) and mean completion tokens."""
    rates: dict[str, list[float]] = defaultdict(list)
    comp: dict[str, list[float]] = defaultdict(list)
    think: dict[str, list[float]] = defaultdict(list)
    prompt: dict[str, list[float]] = defaultdict(list)
    for p in past:
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for row in p["stages"]:
            acc = per[row["stage"]]
            acc[0] += row.get("requests", 0) + row.get("cached", 0)
            acc[1] += row.get("completion_tokens", 0)
            acc[2] += row.get("requests", 0)
            acc[3] += row.get("reasoning_tokens", 0)
            acc[4] += row.get("prompt_tokens", 0)
        for stage, (calls, ct, sent, rt, pt) in per.items():
            rates[stage].append(calls / p["kept"])
            if sent:
                comp[stage].append(ct / sent)
                think[stage].append(rt / sent)
                prompt[stage].append(pt / sent)
    return {s: {"per_kept": (min(r), max(r)), "completion": sum(comp[s]) / len(comp[s]),
                "reasoning": sum(think[s]) / len(think[s]), "prompt": sum(prompt[s]) / len(prompt[s])}
            for s, r in rates.items() if comp.get(s)}


def cap_warnings(high: dict[str, Any], settings) -> list[str]:
    out = []
    if settings.token_budget and high["tokens"] > settings.token_budget:
        out.append(f"the estimate (up to {high['tokens']} tokens) passes --max-total-tokens {settings.token_budget}: "
                   "the run would stop early")
    if settings.max_cost and high.get("dollars") is not None and high["dollars"] > settings.max_cost:
        out.append(f"the estimate (up to ${high['dollars']:.4f}) passes --max-cost {settings.max_cost}: "
                   "the run would stop early")
    return out
