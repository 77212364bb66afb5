"""Human summaries of dataset versions: the `datasets list/show/diff` text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .versions import DatasetStore, DatasetVersion


def list_rows(store: DatasetStore) -> list[dict[str, Any]]:
    rows = []
    for name in store.names():
        latest = store.latest(name)
        m = latest.manifest
        rows.append({
            "name": name, "versions": len(store.versions(name)), "latest": latest.version,
            "records": m.get("counts", {}).get("records", "?"), "created": m.get("created", "?"),
            "generator": m.get("generator", "?"), "model": m.get("model", "?"),
        })
    return rows


def format_list(store: DatasetStore) -> str:
    rows = list_rows(store)
    if not rows:
        return f"no datasets in {store.root}"
    head = ("NAME", "VERSIONS", "LATEST", "RECORDS", "CREATED", "GENERATOR", "MODEL")
    table = [head] + [tuple(str(r[k]) for k in ("name", "versions", "latest", "records", "created",
                                                  "generator", "model")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)


def format_show(dv: DatasetVersion, verified: bool | None = None) -> str:
    m = dv.manifest
    counts, funnel, usage = m.get("counts", {}), m.get("funnel", {}), m.get("usage", {})
    lines = [
        f"{dv.ref}  ({dv.path})",
        f"  parent:     {m.get('parent') or '-'}",
        f"  created:    {m.get('created', '?')}  datagen {m.get('datagen_version', '?')}",
        f"  generator:  {m.get('generator', '?')}  backend {m.get('backend', '?')}  model {m.get('model', '?')}"
        + (f"  lang {m['lang']}" if m.get("lang") else "") + (f"  seed {m['seed']}" if "seed" in m else ""),
        f"  records:    {counts.get('records', '?')} ({counts.get('added', '?')} added), "
        f"rejects {counts.get('rejects', '?')}",
    ]
    if funnel:
        lines.append(f"  funnel:     {funnel.get('candidates', '?')} candidates -> {funnel.get('kept', '?')} kept")
        for reason, n in (funnel.get("dropped") or {}).items():
            lines.append(f"    {n:>6}  {reason}")
    if usage:
        lines.append(f"  llm usage:  {usage.get('requests', 0)} requests + {usage.get('cached', 0)} cached, "
                     f"tokens {usage.get('prompt_tokens', 0)} in / {usage.get('completion_tokens', 0)} out")
    for ref, sha in (m.get("prompt_templates") or {}).items():
        lines.append(f"  prompt:     {ref} {sha}")
    for path, sha in (m.get("inputs") or {}).items():
        lines.append(f"  input:      {path} {sha[:12]}")
    sha = m.get("data_sha256", "?")
    check = "" if verified is None else ("  (verified)" if verified else "  (MISMATCH: data.jsonl changed)")
    lines.append(f"  data:       sha256 {sha[:16]}{check}")
    for note in (m.get("run") or {}).get("notes", []):
        lines.append(f"  note:       {note}")
    return "\n".join(lines)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


@dataclass
class DatasetDiff:
    a: DatasetVersion
    b: DatasetVersion
    added: list = field(default_factory=list)  # records in b, not in a
    removed: list = field(default_factory=list)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # manifest field -> (a, b)


DIFF_FIELDS = ("generator", "backend", "model", "lang", "seed", "prompt_templates", "inputs", "config")


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
    ra, rb = a.records(), b.records()
    ids_a, ids_b = {r.id for r in ra}, {r.id for r in rb}
    d = DatasetDiff(a, b, added=[r for r in rb if r.id not in ids_a], removed=[r for r in ra if r.id not in ids_b])
    fa = _flatten({k: a.manifest.get(k) for k in DIFF_FIELDS})
    fb = _flatten({k: b.manifest.get(k) for k in DIFF_FIELDS})
    for key in sorted(set(fa) | set(fb)):
        if key.startswith("config.run.seed"):
            continue  # differs by design between versions; the top-level seed shows it
        if fa.get(key) != fb.get(key):
            d.changed[key] = (fa.get(key), fb.get(key))
    return d


def format_diff(d: DatasetDiff, examples: int = 5) -> str:
    na, nb = d.a.manifest.get("counts", {}).get("records", "?"), d.b.manifest.get("counts", {}).get("records", "?")
    lines = [f"{d.a.ref} ({na} records) -> {d.b.ref} ({nb} records): "
             f"+{len(d.added)} added, -{len(d.removed)} removed"]
    if d.changed:
        lines.append("  changed:")
        for key, (va, vb) in d.changed.items():
            lines.append(f"    {key}: {va!r} -> {vb!r}")
    for label, recs in (("added", d.added), ("removed", d.removed)):
        if recs and examples:
            lines.append(f"  {label} (first {min(examples, len(recs))}):")
            for r in recs[:examples]:
                text = " ".join(r.instruction.split())
                lines.append(f"    {'+' if label == 'added' else '-'} {text[:100]}")
    return "\n".join(lines)
