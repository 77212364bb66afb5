"""The ledger as people and manifests see it: the `usage` of a stage without a paid model,
the summary lines of a run's ledger, and the `--dry-run` table (llm/ledger.py)."""

from __future__ import annotations

from typing import Any


def no_calls_ledger(why: str) -> dict[str, Any]:
    """The `usage.ledger` of a stage that asked no paid model (a local LM scorer, a
    selection): no rows, $0, and why."""
    return {"currency": "USD", "stages": [], "price": why,
            "total": {"requests": 0, "sent": 0, "cached": 0, "retries": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "tokens": 0, "dollars": 0.0}}


def usage_of(client, why: str = "no LLM calls") -> dict[str, Any]:
    """A manifest's `usage`: the client's counts and its ledger (llm/ledger.py), or, with no
    client, zero counts and a ledger that says why."""
    if client is None:
        return {"requests": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                "retries": 0, "ledger": no_calls_ledger(why)}
    ledger = client.usage.ledger
    return {**client.usage.as_dict(),
            "ledger": ledger.as_dict() if ledger is not None else no_calls_ledger("client without a ledger")}


def format_ledger(ledger: dict[str, Any]) -> list[str]:
    """Summary lines: one per stage, then the total ("cost unknown" without a price)."""
    lines = []
    for r in ledger.get("stages", []):
        d = r.get("dollars")
        cost = "cost unknown" if d is None else f"${d:.4f}"
        mode = " (batch)" if r.get("mode") == "batch" else ""
        think = f" ({r['reasoning_tokens']} reasoning)" if r.get("reasoning_tokens") else ""
        lines.append(f"    {r['stage']:<22} {r['requests']:>6} requests + {r['cached']:>5} cached "
                     f"{r['prompt_tokens']:>9} in {r['completion_tokens']:>8} out{think}  {cost}{mode}")
    t = ledger.get("total") or {}
    d = t.get("dollars")
    lines.append(f"  cost: {'unknown (no price for this model)' if d is None else f'${d:.4f}'}"
                 f" for {t.get('tokens', 0)} tokens; cached requests cost nothing")
    s = ledger.get("surplus") or {}
    if s.get("records"):
        sd = s.get("dollars")
        lines.append(f"  surplus: {s['records']} paid records not used (past --num, or stopped by the cap), "
                     f"{s['prompt_tokens'] + s['completion_tokens']} tokens, "
                     f"{'cost unknown' if sd is None else f'${sd:.4f}'} (in rejects, reason surplus)")
    return lines


def format_estimate(est: dict[str, Any]) -> str:
    """The --dry-run table: per stage and in total, the expected requests, tokens and dollars
    and their low–high range."""
    def rng(row, key, fmt="{:,}"):
        lo, hi = row["low"].get(key), row["high"].get(key)
        if lo is None or hi is None:
            return "unknown"
        return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"

    def expected(row, key, fmt="{:,}"):
        v = (row.get("expected") or {}).get(key)
        return "unknown" if v is None else fmt.format(v)

    mode = ", Batch API price" if est.get("batch") else ""
    price = est.get("price")
    lines = [f"dry run: {est['generator']}, {est['num']} {est.get('unit', 'records')}, {est['backend']} {est['model']}{mode} — nothing sent",
             f"  {'stage':<18} {'requests':>8} {'(range)':>11} {'tokens':>9} {'(range)':>17} {'dollars':>9} "
             f"{'(range)':>17}"]
    for row in est["stages"] + [dict(est["total"], stage="total")]:
        lines.append(f"  {row['stage']:<18} {expected(row, 'requests'):>8} {rng(row, 'requests'):>11} "
                     f"{expected(row, 'tokens'):>9} {rng(row, 'tokens'):>17} "
                     f"{expected(row, 'dollars', '${:,.4f}'):>9} {rng(row, 'dollars', '${:,.4f}'):>17}")
    think = est["total"]["high"].get("reasoning_tokens")
    if think:
        lines.append(f"  of the completion tokens, reasoning (thinking): {rng(est['total'], 'reasoning_tokens')} "
                     "(from earlier versions' ledgers)")
    probe, hist = est["probe"], est.get("history") or []
    basis = (f"requests per record from {len(hist)} earlier version(s) ({', '.join(hist)})" if hist
             else "requests per record from the probe (placeholder replies; real ones are dropped more often)")
    lines.append(f"  based on: {probe['requests']} prompts built ({probe['cached']} already cached, $0), "
                 f"{probe['kept']} {est.get('unit', 'records')} kept in the probe; {basis}")
    if est.get("left_out"):
        lines.append(f"  left out (no earlier version needed them): {', '.join(est['left_out'])}")
    lines.append(f"  tokens counted by: {est['tokenizer']}")
    if est["backend"] == "local":
        lines.append("  price: local backend, $0")
    elif price is None:
        lines.append(f"  price: unknown for {est['model']} (add it with --prices FILE); tokens still counted")
    else:
        lines.append(f"  price: ${price['input']}/1M in, ${price['output']}/1M out (as of {price['as_of']}, {price['source']})")
    lines += [f"  warning: {w}" for w in est.get("warnings", [])]
    return "\n".join(lines)
