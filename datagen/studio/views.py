"""The objects behind each page. A page renders one of these; its /api twin returns it
as JSON, so scripts see exactly what a person sees."""

from __future__ import annotations

from typing import Any

from ..store import DatasetStore
from . import review, summary
from .index import Query, VersionIndex
from .record_view import record_view
from .reports import report_view
from .refs import NotFound, check_dataset, check_record_id, open_version


def datasets_view(store: DatasetStore) -> dict[str, Any]:
    rows = summary.datasets(store)
    return {"store": str(store.root), "datasets": rows}


def dataset_view(store: DatasetStore, name: str) -> dict[str, Any]:
    check_dataset(name)
    for row in summary.datasets(store):
        if row["name"] == name:
            return row
    raise NotFound(f"no dataset '{name}' in the store")


def version_view(store: DatasetStore, name: str, version: str, params) -> dict[str, Any]:
    """A version page: a page of its table under the query, facets, manifest, rejects."""
    dv = open_version(store, name, version)
    q = Query.from_params(params)
    draft = review.load(dv)
    state = review.states(draft)
    with VersionIndex(dv) as ix:
        total_all = ix.total()
        total = ix.count(q, state)
        rows = ix.page(q, state)
        fac = ix.facet_values()
        medians = ix.score_medians()
    for r in rows:
        r["review"] = state.get(r["id"])
    versions = store.versions(name)
    return {
        "name": name, "version": version, "ref": dv.ref, "versions": versions,
        "query": q.params(), "page": q.page, "per_page": q.per_page, "total": total, "records": total_all,
        "pages": max(1, -(-total // q.per_page)), "rows": rows, "facets": fac, "medians": medians,
        "manifest": summary.manifest_view(dv), "rejects": summary.rejects(dv),
        "review": {"revision": draft.get("revision", 0), "counts": review.counts(draft, total_all),
                   "published": draft.get("published")},
        "report": report_view(store, dv),
    }


def record_page_view(store: DatasetStore, name: str, version: str, record_id: str) -> dict[str, Any]:
    dv = open_version(store, name, version)
    check_record_id(record_id)
    with VersionIndex(dv) as ix:
        found = ix.record(record_id)
        if found is None:
            raise NotFound(f"no record {record_id} in {dv.ref}")
        position, row = found
        prev, nxt = ix.neighbours(position)
    view = record_view(dv, row, position)
    draft = review.load(dv)
    view.update(name=name, version=version, prev=prev, next=nxt,
                draft={"revision": draft.get("revision", 0), "entry": draft.get("actions", {}).get(record_id)})
    return view


def review_action(store: DatasetStore, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    """One review POST: {revision, action, id?, note?, edit?, filter?}. With `filter` (the
    table's query parameters) the action applies to every record it selects, as one step."""
    from .refs import BadRequest

    dv = open_version(store, name, version)
    if not isinstance(body, dict) or not isinstance(body.get("revision"), int):
        raise BadRequest("send JSON with an integer 'revision' (the draft's, from GET .../review)")
    action, revision = body.get("action"), body["revision"]
    if action == "undo":
        draft = review.undo(dv, revision)
        return review.public(draft)
    note = str(body.get("note") or "")
    if isinstance(body.get("filter"), dict):
        if action not in ("accept", "reject", "clear"):
            raise BadRequest("a bulk action is accept, reject or clear")
        with VersionIndex(dv) as ix:
            ids = ix.ids(Query.from_params(body["filter"]), review.states(review.load(dv)))
        entry = None if action == "clear" else review.make_entry(action, note)
        draft = review.apply(dv, revision, [(i, entry) for i in ids])
        out = review.public(draft)
        out["selected"] = len(ids)
        return out
    record_id = check_record_id(str(body.get("id") or ""))
    with VersionIndex(dv) as ix:
        found = ix.record(record_id)
    if found is None:
        raise NotFound(f"no record {record_id} in {dv.ref}")
    entry = None if action == "clear" else review.make_entry(action, note, found[1], body.get("edit"))
    return review.public(review.apply(dv, revision, [(record_id, entry)]))


def review_view(store: DatasetStore, name: str, version: str) -> dict[str, Any]:
    return review.public(review.load(open_version(store, name, version)))


def publish_review(store: DatasetStore, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    from .refs import BadRequest

    dv = open_version(store, name, version)
    if not isinstance(body, dict) or not isinstance(body.get("revision"), int):
        raise BadRequest("send JSON with an integer 'revision'")
    return review.publish(store, dv, body["revision"])


def version_report(store: DatasetStore, name: str, version: str) -> dict[str, Any]:
    return report_view(store, open_version(store, name, version))


def build_report(store: DatasetStore, name: str, version: str) -> dict[str, Any]:
    from .reports import build

    return build(store, open_version(store, name, version))
