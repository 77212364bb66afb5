"""A review of one version: a draft beside it, published as a new version.

The draft lives at `<store>/<name>/.studio/<version>.review.json` and is rewritten
atomically (temp file, fsync, rename) on every action, so a killed server loses at most
the action in flight. Each write bumps `revision`; an action names the revision it was
made against, and a stale one (another tab acted since) is refused with a Conflict (409)
instead of overwriting. The version itself never changes: publishing writes the next
version through the store, under the dataset's lock, with the parent and the review's
counts in its manifest. Rejected records go to its rejects as `human_rejected`; edited
and rejected records carry meta.review (action, note, time, the text before an edit).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import LockHeldError
from ..records import Record
from ..store import DatasetStore, DatasetVersion
from .index import studio_dir
from .refs import BadRequest, StudioError

ACTIONS = ("accept", "reject", "edit")
EDITABLE = ("instruction", "input", "output")
HISTORY = 500  # undo steps kept
HISTORY_ENTRIES = 200_000  # and at most this many record states in them (bulk steps are large)
LOCK_WAIT = 10.0  # seconds a publish waits for a CLI run's lock before saying so

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


class Conflict(StudioError):
    status = 409


class Locked(StudioError):
    status = 423


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def draft_path(dv: DatasetVersion) -> Path:
    return studio_dir(dv) / f"{dv.version}.review.json"


def _lock_for(path: Path) -> threading.Lock:
    with _guard:
        return _locks.setdefault(str(path), threading.Lock())


def load(dv: DatasetVersion) -> dict[str, Any]:
    path = draft_path(dv)
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise StudioError(f"review draft {path} is not valid JSON", 500) from None
    return {"of": dv.ref, "revision": 0, "actions": {}, "history": [], "published": None}


def states(draft: dict[str, Any]) -> dict[str, str]:
    """record id -> accept | reject | edit."""
    return {rid: a["action"] for rid, a in draft.get("actions", {}).items()}


def counts(draft: dict[str, Any], total: int | None = None) -> dict[str, int]:
    c = {a: 0 for a in ACTIONS}
    for a in draft.get("actions", {}).values():
        c[a["action"]] += 1
    if total is not None:
        c["unreviewed"] = total - sum(c[a] for a in ACTIONS)
    return c


def public(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft as the API shows it (no undo history)."""
    return {"of": draft.get("of"), "revision": draft.get("revision", 0), "counts": counts(draft),
            "published": draft.get("published"), "actions": draft.get("actions", {})}


def _entry(action: str, note: str, before: dict | None = None, after: dict | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"action": action, "note": note[:2000], "time": _now()}
    if action == "edit":
        e["before"], e["after"] = before, after
    return e


def apply(dv: DatasetVersion, revision: int, changes: list[tuple[str, dict | None]]) -> dict[str, Any]:
    """Set (or, with None, clear) the entries of `changes` as one undoable step, against
    `revision`; returns the new draft. Conflict when the draft moved on."""
    path = draft_path(dv)
    with _lock_for(path):
        draft = load(dv)
        _check_revision(draft, revision)
        step = []
        for rid, entry in changes:
            step.append([rid, draft["actions"].get(rid)])
            if entry is None:
                draft["actions"].pop(rid, None)
            else:
                draft["actions"][rid] = entry
        history = (draft.get("history", []) + [step])[-HISTORY:]
        while len(history) > 1 and sum(len(s) for s in history) > HISTORY_ENTRIES:
            history.pop(0)
        draft["history"] = history
        return _save(dv, draft)


def undo(dv: DatasetVersion, revision: int) -> dict[str, Any]:
    path = draft_path(dv)
    with _lock_for(path):
        draft = load(dv)
        _check_revision(draft, revision)
        if not draft.get("history"):
            raise Conflict("nothing to undo")
        for rid, prev in reversed(draft["history"].pop()):
            if prev is None:
                draft["actions"].pop(rid, None)
            else:
                draft["actions"][rid] = prev
        return _save(dv, draft)


def _check_revision(draft: dict[str, Any], revision: int) -> None:
    if draft.get("published"):
        raise Conflict(f"this review was published as {draft['published']}; review that version instead")
    if int(revision) != int(draft.get("revision", 0)):
        raise Conflict(f"stale review: revision {revision}, the draft is at {draft.get('revision', 0)} "
                       "(another tab acted); reload")


def _save(dv: DatasetVersion, draft: dict[str, Any]) -> dict[str, Any]:
    from ..io import write_json

    draft["revision"] = int(draft.get("revision", 0)) + 1
    draft["updated"] = _now()
    write_json(draft_path(dv), draft)
    return draft


def make_entry(action: str, note: str = "", row: dict | None = None, edit: dict | None = None) -> dict[str, Any]:
    """A draft entry for `action` on the record `row` (edit: the new field values)."""
    if action not in ACTIONS:
        raise BadRequest(f"action: one of {', '.join(ACTIONS)}, clear, undo (got {str(action)[:20]!r})")
    if action != "edit":
        return _entry(action, note)
    if not isinstance(edit, dict) or not edit or any(k not in EDITABLE or not isinstance(v, str) for k, v in edit.items()):
        raise BadRequest(f"edit: an object of new text for {', '.join(EDITABLE)}")
    before = {k: str((row or {}).get(k) or "") for k in EDITABLE}
    after = {**before, **edit}
    return _entry("edit", note, before, after)


def _reviewed(row: dict[str, Any], entry: dict[str, Any]) -> Record:
    rec = Record.from_dict(row)
    review = {"action": entry["action"], "note": entry.get("note", ""), "time": entry["time"]}
    if entry["action"] == "edit":
        before, after = entry["before"], entry["after"]
        review["before"] = before
        if rec.messages:
            _edit_turns(rec.messages, before, after)
        rec.instruction, rec.input, rec.output = after["instruction"], after["input"], after["output"]
    rec.meta = {**rec.meta, "review": review}
    return rec


def _edit_turns(messages: list[dict], before: dict, after: dict) -> None:
    """Carry an edit of the first exchange into the conversation it describes."""
    user = next((m for m in messages if m.get("role") == "user"), None)
    asst = next((m for m in messages if m.get("role") == "assistant"), None)
    old_q = before["instruction"] + (("\n\n" + before["input"]) if before["input"] else "")
    if user is not None and user.get("content") in (before["instruction"], old_q):
        user["content"] = after["instruction"] + (("\n\n" + after["input"]) if after["input"] else "")
    if asst is not None and asst.get("content") == before["output"]:
        asst["content"] = after["output"]


def publish(store: DatasetStore, dv: DatasetVersion, revision: int, wait: float | None = None) -> dict[str, Any]:
    """Publish the reviewed version as the next version of the dataset; returns its row.
    A run holding the dataset's lock is waited for up to `wait` seconds, then Locked (423)."""
    wait = LOCK_WAIT if wait is None else wait
    path = draft_path(dv)
    with _lock_for(path):
        draft = load(dv)
        _check_revision(draft, revision)
        actions = draft.get("actions", {})
        if not actions:
            raise BadRequest("nothing reviewed yet: accept, reject or edit a record first")
        lock = store.lock(dv.name)
        deadline = time.monotonic() + wait
        while True:
            try:
                lock.acquire()
                break
            except LockHeldError as e:
                if time.monotonic() >= deadline:
                    raise Locked(f"{e} (waited {wait:g} s); the review draft is kept, publish again later") from None
                time.sleep(0.25)
        try:
            store.clean_temp(dv.name)
            kept, rejected = [], []
            total = 0
            with open(dv.data_path, "rb") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    total += 1
                    entry = actions.get(str(row.get("id") or ""))
                    if entry is None or entry["action"] == "accept":
                        kept.append(Record.from_dict(row))
                    elif entry["action"] == "edit":
                        kept.append(_reviewed(row, entry))
                    else:
                        rec = _reviewed(row, entry)
                        rejected.append({"reason": "human_rejected", "filter": "review", "stage": "review",
                                         "record": rec.to_dict(), **({"detail": {"note": entry["note"]}}
                                                                     if entry.get("note") else {})})
            c = counts(draft, total)
            m = dv.manifest
            manifest = {k: m[k] for k in ("generator", "backend", "model", "lang", "seed", "prompt_templates",
                                          "inputs", "config") if k in m}
            manifest.update({
                "counts": {"added": 0},
                "funnel": {"candidates": total, "kept": len(kept),
                           "dropped": {"human_rejected": len(rejected)} if rejected else {}},
                "usage": {"requests": 0},
                "review": {"of": dv.ref, "revision": draft["revision"], **c},
            })
            new = store.publish(dv.name, kept, rejected, manifest, parent=dv.version)
        finally:
            lock.release()
        draft["published"] = new.version
        _save(dv, draft)
    return {"ref": new.ref, "version": new.version, "parent": dv.version, "records": len(kept),
            "rejected": len(rejected), "review": manifest["review"]}
