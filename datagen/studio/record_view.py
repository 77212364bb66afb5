"""One record as the record page shows it: fields, conversation, scores with the judge's
reasons, lineage (Evol parent chain, seed id) and provenance (Self-QA chunk with the
answer's span; Self-KG triples).

Self-QA provenance: meta `doc` names the document (relative to the run's docs input, plus
`#row` for JSONL rows) and `chunk`/`answer_span` are offsets into its text. The document is
re-read from the input the manifest hashed, and only when its hash still matches, so the
offsets point at the same characters the run saw. Where the generator stored the chunk
text itself (`chunk_text`), that is used and nothing is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store import DatasetVersion, file_sha256

CONTEXT = 400  # characters of the document shown around a chunk when it is long


def scores_view(meta: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, s in (meta.get("scores") or {}).items():
        if isinstance(s, dict):
            out.append({"name": name, "value": s.get("value"), "reason": s.get("reason") or s.get("error") or "",
                        "aspects": s.get("aspects") or {}})
        else:
            out.append({"name": name, "value": s, "reason": "", "aspects": {}})
    return out


def lineage_view(meta: dict[str, Any]) -> dict[str, Any] | None:
    chain = meta.get("lineage")
    if not chain and not meta.get("parent_id") and not meta.get("seed_id"):
        return None
    steps = [{"id": str(s.get("id") or ""), "instruction": str(s.get("instruction") or ""),
              "method": str(s.get("method") or "")} for s in (chain or []) if isinstance(s, dict)]
    return {"seed_id": meta.get("seed_id"), "parent_id": meta.get("parent_id"), "depth": meta.get("depth"),
            "method": meta.get("method"), "chain": steps}


def _find_document(dv: DatasetVersion, doc_id: str) -> tuple[str, str | None]:
    """(text, path) of the document `doc_id` from the run's inputs, or ("", None). A
    relative input is tried from here and from the folder holding the store (where the run
    that wrote `./datasets` was started)."""
    from ..io.documents import read_documents

    rel = doc_id.split("#", 1)[0]
    for path, sha in (dv.manifest.get("inputs") or {}).items():
        if not (Path(path).as_posix() == rel or Path(path).as_posix().endswith("/" + rel) or Path(path).name == rel):
            continue
        bases = [Path(path)] if Path(path).is_absolute() else [Path(path), dv.path.parent.parent.parent / path]
        p = next((b for b in bases if b.is_file()), None)
        if p is None:
            continue
        if sha and sha != "missing" and file_sha256(p) != sha:
            continue  # changed since the run: its offsets would point at other text
        # read alone, the file's documents are named from its own name: "a.md", "rows.jsonl#3"
        alone = Path(rel).name + doc_id[len(rel):]
        try:
            for d in read_documents(p):
                if d.doc_id in (doc_id, alone):
                    return d.text, str(p)
        except Exception:
            return "", None
    return "", None


def _page_of(meta: dict[str, Any], start: int) -> Any:
    pages = meta.get("pages") or meta.get("page_spans")
    if isinstance(meta.get("page"), (int, str)):
        return meta["page"]
    if isinstance(pages, list):
        for i, span in enumerate(pages):
            if isinstance(span, (list, tuple)) and len(span) == 2 and span[0] <= start < span[1]:
                return i + 1
    return None


def provenance_view(dv: DatasetVersion, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Self-QA: the chunk split around the answer span (before, answer, after); Self-KG: triples."""
    if meta.get("triples"):
        return {"kind": "self-kg", "entity": meta.get("entity"), "mode": meta.get("mode"),
                "triples": [t for t in meta["triples"] if isinstance(t, dict)]}
    chunk = meta.get("chunk")
    if not (meta.get("doc") and isinstance(chunk, list) and len(chunk) == 2):
        return None
    start, end = int(chunk[0]), int(chunk[1])
    span = meta.get("answer_span") if isinstance(meta.get("answer_span"), list) else None
    text, path = (meta["chunk_text"], None) if isinstance(meta.get("chunk_text"), str) else ("", None)
    base = start if text else 0
    if not text:
        doc, path = _find_document(dv, str(meta["doc"]))
        text = doc[start:end] if doc else ""
        base = start
    view = {"kind": "self-qa", "doc": meta["doc"], "path": path, "chunk": [start, end], "heading": meta.get("heading"),
            "answer_span": span, "page": _page_of(meta, start), "page_end": meta.get("page_end"), "found": bool(text),
            "before": text, "answer": "", "after": "", "answer_mode": meta.get("answer_mode"),
            "grounding": meta.get("grounding")}
    if text and span and start <= span[0] <= span[1] <= end:
        a, b = span[0] - base, span[1] - base
        view.update(before=text[:a], answer=text[a:b], after=text[b:])
    return view


def pair_view(row: dict[str, Any]) -> dict[str, Any] | None:
    """A preference record's two sides (datagen prefs, docs/preferences.md), or None."""
    if not all(isinstance(row.get(k), str) for k in ("prompt", "chosen", "rejected")):
        return None
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    judge = meta.get("judge") if isinstance(meta.get("judge"), dict) else {}
    return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"],
            "chosen_model": str(meta.get("chosen_model") or ""), "rejected_model": str(meta.get("rejected_model") or ""),
            "margin": meta.get("margin"), "reasons": [str(r) for r in judge.get("reasons") or [] if r]}


def record_view(dv: DatasetVersion, row: dict[str, Any], position: int) -> dict[str, Any]:
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    msgs = [{"role": str(m.get("role") or ""), "content": str(m.get("content") or "")}
            for m in (row.get("messages") or []) if isinstance(m, dict)]
    plain_meta = {k: v for k, v in meta.items() if k not in ("scores", "lineage", "triples", "reasoning")}
    return {
        "id": str(row.get("id") or ""), "position": position, "ref": dv.ref,
        "instruction": str(row.get("instruction") or ""), "input": str(row.get("input") or ""),
        "output": str(row.get("output") or ""), "messages": msgs, "meta": plain_meta,
        "scores": scores_view(meta), "lineage": lineage_view(meta), "provenance": provenance_view(dv, meta),
        "review": meta.get("review"),
        # a reasoning model's trace, kept apart from the output (docs/reasoning.md); a preference pair
        "reasoning": str(meta.get("reasoning") or ""), "pair": pair_view(row),
    }
