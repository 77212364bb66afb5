"""Run a generator: collect its outcomes, count the funnel, write or publish the result."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..generators.base import GenerationReport, Generator
from ..filters.base import FilterChain
from ..io import write_jsonl
from ..llm.base import ChatClient
from ..llm.ledger import BudgetExceeded, format_estimate, format_ledger
from ..records import Record


@dataclass
class RunResult:
    generator: str
    kept: list[Record] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    report: GenerationReport = field(default_factory=GenerationReport)
    seconds: float = 0.0
    llm: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)  # llm/ledger.py: by stage, in dollars
    stopped: dict[str, Any] | None = None  # {"reason": "budget", ...} when a cap stopped the run
    estimate: dict[str, Any] | None = None  # --dry-run: nothing ran, this is the estimate
    # a client that returns reasoning traces: how many kept records had one, and what became of them
    reasoning: dict[str, Any] = field(default_factory=dict)

    @property
    def funnel(self) -> dict[str, Any]:
        reasons = Counter(r["reason"] for r in self.rejects)
        by_stage: dict[str, Counter] = {}
        for r in self.rejects:
            by_stage.setdefault(r.get("stage", "instruction"), Counter())[r["reason"]] += 1
        return {
            "candidates": len(self.kept) + len(self.rejects),
            "kept": len(self.kept),
            "dropped": dict(reasons.most_common()),
            "dropped_by_stage": {k: dict(v.most_common()) for k, v in by_stage.items()},
        }


def reject_row(outcome) -> dict[str, Any]:
    v = outcome.verdict
    row = {"reason": v.reason, "filter": v.filter, "stage": outcome.stage, "record": outcome.record.to_dict()}
    if v.detail:
        row["detail"] = v.detail
    return row


def run_generator(gen: Generator, client: ChatClient, chain: FilterChain, num: int, executor=None,
                  reasoning: str = "keep") -> RunResult:
    """Drive `gen` until it stops; keep what it kept, and every drop with its reason.
    `executor` (datagen/run/executor.py) says where its blocks run; default: here.
    `reasoning="drop"` (--reasoning drop): traces decided the filters, then go."""
    from .progress import RunProgress

    result = RunResult(generator=gen.name)
    t0 = time.perf_counter()
    chain.warm_up()  # models load while the first requests are in flight
    outcomes = executor.outcomes(gen, client, chain, num) if executor is not None else gen.generate(client, chain, num)
    traced = 0
    try:
        progress = RunProgress(num, client.usage, unit=gen.num_counts)
        for outcome in progress.follow(outcomes):
            if client.returns_reasoning and "reasoning" in outcome.record.meta:
                traced += outcome.verdict.kept
                if reasoning == "drop":
                    outcome.record.meta.pop("reasoning")
            if outcome.verdict.kept:
                result.kept.append(outcome.record)
            else:
                result.rejects.append(reject_row(outcome))
    except BudgetExceeded as stop:
        # no new request went out; what was kept (whole records only) is the run's result
        result.stopped = stop.figures or {"reason": "budget", "detail": str(stop)}
        gen.report.stop_reason = f"budget ({stop})"
    if client.returns_reasoning and traced:
        result.reasoning = {"kept_with_trace": traced, "traces": "dropped" if reasoning == "drop" else "meta.reasoning"}
    result.seconds = round(time.perf_counter() - t0, 3)
    result.usage = client.usage.as_dict()
    ledger = client.usage.ledger
    if ledger is not None:
        result.ledger = ledger.as_dict()
        result.ledger["surplus"] = surplus_cost(result.rejects, ledger)
    result.throughput = throughput(client.usage, t0, result.seconds)
    result.report = gen.report
    return result


def surplus_cost(rejects: list[dict[str, Any]], ledger) -> dict[str, Any]:
    """What the `surplus` rejects (paid for, not needed: a task finished after --num was
    reached) cost: their share of the tokens, priced as the ledger prices them."""
    rows = [r for r in rejects if r["reason"] == "surplus"]
    p = sum(((r["record"].get("meta") or {}).get("usage") or {}).get("prompt_tokens", 0) for r in rows)
    c = sum(((r["record"].get("meta") or {}).get("usage") or {}).get("completion_tokens", 0) for r in rows)
    return {"records": len(rows), "prompt_tokens": p, "completion_tokens": c, "dollars": ledger.dollars(p, c)}


def throughput(usage, t0: float, seconds: float) -> dict[str, float]:
    """Requests/s (requests sent: a call asking for n samples of a server that ignores `n`
    is n requests), mean and peak requests in flight, and seconds to the first request."""
    sent = usage.sent_requests
    if not sent or seconds <= 0:
        return {}
    out = {"requests_per_s": round(sent / seconds, 2), "requests_sent": sent,
           "mean_in_flight": round(usage.in_flight_seconds / seconds, 2),
           "peak_in_flight": usage.peak_in_flight}
    if usage.first_sent is not None:
        out["first_request_s"] = round(usage.first_sent - t0, 3)
    return out


def write_result(result: RunResult, out: str | Path, rejects: str | Path | None = None) -> tuple[Path, Path]:
    """Write kept records to `out` and rejects beside it (or to `rejects`)."""
    out = Path(out)
    rej = Path(rejects) if rejects else out.with_name(out.stem + ".rejects.jsonl")
    write_jsonl(rej, result.rejects)
    write_jsonl(out, result.kept)
    return out, rej


def format_summary(result: RunResult) -> str:
    """One screen: kept, dropped by reason, classification share, calls, tokens."""
    if result.estimate is not None:
        return format_estimate(result.estimate)
    f = result.funnel
    lines = [f"{result.generator}: kept {f['kept']} of {f['candidates']} candidates in {result.seconds:.1f}s"]
    types = Counter(r.meta.get("task_type") for r in result.kept if r.meta.get("task_type"))
    if types:
        total = sum(types.values())
        share = types.get("classification", 0) / total
        lines.append("  task types: " + ", ".join(f"{k} {v}" for k, v in types.most_common())
                     + f" (classification share {share:.0%})")
    if f["dropped"]:
        lines.append("  dropped:")
        for reason, n in f["dropped"].items():
            lines.append(f"    {n:>6}  {reason}")
    if result.reasoning:
        r = result.reasoning
        lines.append(f"  reasoning: {r['kept_with_trace']} kept records came with a trace "
                     f"({'dropped, --reasoning drop' if r['traces'] == 'dropped' else 'kept in meta.reasoning'})")
    u = result.usage
    if u:
        lines.append(f"  llm: {u.get('requests', 0)} requests + {u.get('cached', 0)} cached, "
                     f"{u.get('retries', 0)} retries, tokens {u.get('prompt_tokens', 0)} in / "
                     f"{u.get('completion_tokens', 0)} out")
    if result.ledger:
        lines += format_ledger(result.ledger)
    t = result.throughput
    if t:
        line = f"  throughput: {t['requests_per_s']:.1f} req/s"
        if u and t.get("requests_sent", 0) != u.get("requests"):
            line += f" ({t['requests_sent']} HTTP requests sent, retries and re-asks included)"
        if t.get("mean_in_flight"):
            line += f", mean in-flight {t['mean_in_flight']:.1f} (peak {t['peak_in_flight']})"
        if "first_request_s" in t:
            line += f", first request after {t['first_request_s']:.1f}s"
        lines.append(line)
    if result.report.stop_reason:
        lines.append(f"  stopped: {result.report.stop_reason}")
    for note in result.report.notes:
        lines.append(f"  note: {note}")
    for name, reason in result.report.skipped.items():
        lines.append(f"  skipped: {name}: {reason}")
    return "\n".join(lines)
