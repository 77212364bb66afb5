"""Compare two versions: records added, removed and changed, changes shown word by word.

Records are matched by id (a reviewed edit keeps its record's id, so it shows as changed);
a record whose text differs under the same id is changed. The counts come from the two
versions' indexes (ids and content digests), so no JSONL is read whole; only the records
shown are read. The manifest fields that differ are what `datagen datasets diff` prints
(store/view.py's fields).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..store import DatasetVersion
from ..store.view import DIFF_FIELDS, _flatten
from .index import VersionIndex

SHOWN = 50
# a word, a CJK character (Chinese has no spaces: each character is a unit), or a space run
TOKEN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+|\s+")


def word_diff(a: str, b: str) -> list[dict[str, str]]:
    """[{op: same|del|ins, text}] turning `a` into `b`, word by word."""
    ta, tb = TOKEN_RE.findall(a or ""), TOKEN_RE.findall(b or "")
    out: list[dict[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append({"op": "same", "text": "".join(ta[i1:i2])})
            continue
        if i2 > i1:
            out.append({"op": "del", "text": "".join(ta[i1:i2])})
        if j2 > j1:
            out.append({"op": "ins", "text": "".join(tb[j1:j2])})
    return out


def manifest_changes(a: DatasetVersion, b: DatasetVersion) -> list[dict[str, Any]]:
    from ..run.publish import scrub  # manifests are scrubbed when written; scrub again before showing

    fa = _flatten(scrub({k: a.manifest.get(k) for k in DIFF_FIELDS}))
    fb = _flatten(scrub({k: b.manifest.get(k) for k in DIFF_FIELDS}))
    return [{"field": k, "a": fa.get(k), "b": fb.get(k)} for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and not k.startswith("config.run.seed")]


def compare(a: DatasetVersion, b: DatasetVersion, shown: int = SHOWN) -> dict[str, Any]:
    with VersionIndex(a) as ia, VersionIndex(b) as ib:
        da, db = dict(ia.digests()), dict(ib.digests())
        added = [i for i in db if i not in da]
        removed = [i for i in da if i not in db]
        changed = [i for i in db if i in da and da[i] != db[i]]

        def rows(index, ids):
            out = []
            for rid in ids[:shown]:
                found = index.record(rid)
                if found:
                    out.append(_brief(found[1]))
            return out

        changed_rows = []
        for rid in changed[:shown]:
            ra, rb = ia.record(rid), ib.record(rid)
            if ra and rb:
                fields = []
                for f in ("instruction", "input", "output"):
                    va, vb = str(ra[1].get(f) or ""), str(rb[1].get(f) or "")
                    if va != vb:
                        fields.append({"field": f, "diff": word_diff(va, vb)})
                review = (rb[1].get("meta") or {}).get("review") if isinstance(rb[1].get("meta"), dict) else None
                changed_rows.append({"id": rid, "fields": fields, "review": review})
        return {
            "a": a.ref, "b": b.ref, "records_a": len(da), "records_b": len(db),
            "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
            "added": rows(ib, added), "removed": rows(ia, removed), "changed": changed_rows,
            "manifest": manifest_changes(a, b), "shown": shown,
        }


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row.get("id") or ""), "instruction": str(row.get("instruction") or "")[:300],
            "output": str(row.get("output") or "")[:300]}
