"""datagen/studio/index.py: the per-version SQLite index (built once, atomically; search in
English words and Chinese substrings; paging the same by seek and by offset)."""

import pytest

from studio_store import make_store

from datagen.studio.index import VersionIndex, index_path
from datagen.studio.query import Query, match_expression


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("studio-index") / "store")


def test_the_index_is_built_once_beside_the_version_and_never_inside_it(store):
    dv = store.resolve("demo@v0001")
    with VersionIndex(dv) as ix:
        assert ix.total() == 30
    path = index_path(dv)
    assert path.parent == dv.path.parent / ".studio" and not any(p.suffix == ".sqlite" for p in dv.path.iterdir())
    mtime = path.stat().st_mtime_ns
    with VersionIndex(dv):
        pass
    assert path.stat().st_mtime_ns == mtime  # fresh: not rebuilt
    assert store.verify("demo@v0001")


def test_a_corrupt_index_is_rebuilt(store):
    dv = store.resolve("kg@v0001")
    with VersionIndex(dv):
        pass
    index_path(dv).write_bytes(b"not a database")
    with VersionIndex(dv) as ix:
        assert ix.total() == 1


def test_chinese_substrings_of_any_length_and_english_word_prefixes(store):
    with VersionIndex(store.resolve("demo@v0002")) as ix:
        def hits(q):
            return ix.count(Query(q=q))
        assert hits("长") == hits("长城") == hits("关于长城的问题") == 10
        assert hits("城的") == 10 and hits("城长") == 0 and hits("问题") == 13
        assert hits("新问题") == 3 and hits("新问") == 3
        assert hits("river") == 20 and hits("RIV") == 20  # the last word is a prefix
        assert hits("topic number 13") == 1 and hits("number topic") == 0  # a phrase, in order
        assert hits("onerror") == 1  # the planted record's output is searchable text too
    assert match_expression("!!!") is None


def test_a_page_by_seek_equals_the_page_by_offset(store):
    with VersionIndex(store.resolve("demo@v0001")) as ix:
        seek = [r["rid"] for r in ix.page(Query(page=3, per_page=7))]
        offset = [r["rid"] for r in ix.page(Query(page=3, per_page=7, turns="1"))]
        assert seek == list(range(14, 21))
        assert offset == [r for r in range(30) if r % 10 != 7][14:21]


def test_facets_and_medians(store):
    with VersionIndex(store.resolve("demo@v0001")) as ix:
        f = ix.facet_values()
        assert f["source"] == ["evol-instruct", "self-instruct"] and f["scores"] == ["ifd", "judge"]
        assert f["lang"] == ["en", "zh"] and f["turns"] == [1, 2]
        assert ix.score_medians()["judge"] == 3.0


def test_index_all_builds_every_version_once_and_the_dashboard_shows_medians(tmp_path):
    from datagen.studio.index import index_all, medians_if_indexed

    store = make_store(tmp_path / "store")
    dv = store.resolve("demo@v0001")
    assert medians_if_indexed(dv) is None  # the dashboard never builds an index itself
    assert index_all(store) == 4 and index_all(store) == 0
    assert medians_if_indexed(dv) == {"ifd": 0.4, "judge": 3.0}


def _plan(ix, q):
    """The query plans of the statements that select `ix.page(q)`'s rows (values inlined)."""
    sqls = []
    ix.con.set_trace_callback(sqls.append)
    try:
        ix.page(q)
    finally:
        ix.con.set_trace_callback(None)
    return [" | ".join(r[3] for r in ix.con.execute("EXPLAIN QUERY PLAN " + s)) for s in sqls
            if s.startswith("SELECT r.rid")]


@pytest.mark.parametrize("params", [{}, {"lang": "en"}, {"q": "问题"}, {"score": "judge", "min": 2.0},
                                    {"review": "unreviewed", "turns": "1"}])
@pytest.mark.parametrize("desc", [True, False])
@pytest.mark.parametrize("walk", [0, 10**9])  # sort every selection / walk the score index for every one
def test_a_score_sort_pages_like_a_full_sort_with_unscored_records_last(store, params, desc, walk, monkeypatch):
    monkeypatch.setattr("datagen.studio.index.WALK", walk)
    with VersionIndex(store.resolve("demo@v0002")) as ix:  # 30 scored records, then 3 unscored
        state = {r["id"]: "reject" for r in ix.page(Query(per_page=500))[::4]}  # a draft: every 4th rejected
        matching = ix.page(Query(per_page=500, **params), state)
        assert len(matching) < 33 or not params

        def key(r):
            v = r["scores"].get("ifd")
            return (v is None, 0 if v is None else (-v if desc else v), r["rid"])
        want = [r["rid"] for r in sorted(matching, key=key)]
        got = [r["rid"] for p in range(1, 7)
               for r in ix.page(Query(sort="ifd", desc=desc, per_page=7, page=p, **params), state)]
        assert got == want and len(want) == len(matching)


def test_a_score_sort_walks_the_score_index_instead_of_sorting_every_record(store, monkeypatch):
    monkeypatch.setattr("datagen.studio.index.WALK", 10**9)  # as for a broad selection of a big version
    with VersionIndex(store.resolve("demo@v0002")) as ix:
        for desc in (True, False):
            for params in ({}, {"lang": "en", "q": "river"}):
                plans = _plan(ix, Query(sort="ifd", desc=desc, **params))
                assert plans and not any("TEMP B-TREE" in p for p in plans), plans


def test_a_bad_line_in_the_data_is_named_not_a_crash(tmp_path):
    from datagen.errors import DataError

    store = make_store(tmp_path / "store")
    dv = store.resolve("kg@v0001")
    with open(dv.data_path, "a", encoding="utf-8") as fh:
        fh.write("{half a record\n")
    with pytest.raises(DataError, match=r"kg/v0001/data.jsonl:2: invalid JSON"):
        VersionIndex(dv)
    assert not index_path(dv).exists() and not list(index_path(dv).parent.glob(".idx-*"))  # no half-built index
