"""promote_if: better — does the new version's adapter beat the last evaluated version's?

The comparison is on one metric of the adapter (ROUGE-L by default; reference loss counts
lower as better). It is only fair on the same eval set, so a change of eval set is named
in the decision. The first evaluated version has nothing to beat and is promoted.
"""

from __future__ import annotations

from typing import Any

LOWER_IS_BETTER = {"ref_loss"}


def metric_value(summary: dict[str, Any], metric: str) -> float | None:
    m = summary.get("adapter") or {}
    if metric == "judge_win":
        return (m.get("judge") or {}).get("win_rate")
    return m.get(metric)


def decide(new: dict[str, Any], old: dict[str, Any] | None, metric: str = "rouge_l") -> dict[str, Any]:
    """{"better", "metric", "value", "previous", "previous_value", "same_eval_set", "reason"}."""
    value = metric_value(new, metric)
    out: dict[str, Any] = {"metric": metric, "value": value, "previous": None, "previous_value": None,
                           "same_eval_set": None}
    if value is None:
        return {**out, "better": False, "reason": f"no {metric} for this version"}
    if old is None:
        return {**out, "better": True, "reason": "first evaluated version"}
    prev = metric_value(old, metric)
    out.update(previous=old["version"], previous_value=prev,
               same_eval_set=(new.get("eval_set") or {}).get("sha256") == (old.get("eval_set") or {}).get("sha256"))
    if prev is None:
        return {**out, "better": True, "reason": f"{old['version']} has no {metric}"}
    better = value < prev if metric in LOWER_IS_BETTER else value > prev
    word = "beats" if better else "does not beat"
    return {**out, "better": better, "reason": f"{metric} {value:.4f} {word} {old['version']}'s {prev:.4f}"}


def gate_version(store, name: str, version: str, metric: str = "rouge_l", promote: bool = False) -> dict[str, Any]:
    """Compare `name@version`'s recorded eval with the last evaluated version before it,
    record the decision in its summary, and with `promote` move the `good` tag to it when
    it is better (the old adapter and versions are left as they are)."""
    import json

    from .history import previous, record, summary_path

    path = summary_path(store, name, version)
    new = json.loads(path.read_text(encoding="utf-8"))
    decision = decide(new, previous(store, name, version), metric)
    decision["promoted"] = bool(promote and decision["better"])
    if decision["promoted"]:
        store.set_tag(name, "good", version)
    record(store, name, version, {**new, "gate": decision})
    return decision
