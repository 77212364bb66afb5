"""datagen/studio's JSON API with httpx against a live server on 127.0.0.1: the datasets
dashboard, a version's table (search en+zh, filters, sort, paging), a record's scores,
lineage and provenance, review (keyboard actions' API, bulk, undo), publish, compare."""

import json
import threading

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from studio_store import live_server, make_store  # noqa: E402

from datagen.studio import create_app  # noqa: E402
from datagen.studio.compare import word_diff  # noqa: E402


@pytest.fixture()
def env(tmp_path):
    store = make_store(tmp_path / "store")
    with live_server(create_app(store.root)) as url:
        c = httpx.Client(base_url=url)
        c.headers["X-XSRF-Token"] = c.get("/api/session").json()["xsrf"]
        yield store, c


def test_datasets_lists_every_version_with_counts_and_cost(env):
    store, c = env
    data = c.get("/api/datasets").json()
    demo = next(d for d in data["datasets"] if d["name"] == "demo")
    assert [v["version"] for v in demo["versions"]] == ["v0001", "v0002"]
    assert demo["versions"][0]["records"] == 30 and demo["versions"][1]["records"] == 33
    assert demo["versions"][1]["parent"] == "v0001" and demo["versions"][0]["cost"] == pytest.approx(0.0123)
    assert "<svg" in c.get("/").text  # the chart across versions
    c.get("/api/datasets/demo/v0001")  # indexed on its first visit: its medians show on the dashboard
    demo = next(d for d in c.get("/api/datasets").json()["datasets"] if d["name"] == "demo")
    assert demo["versions"][0]["medians"]["judge"] == 3.0 and demo["versions"][1]["medians"] == {}


def test_a_version_page_filters_sorts_and_pages(env):
    _, c = env
    v = c.get("/api/datasets/demo/v0001").json()
    assert v["total"] == 30 and len(v["rows"]) == 30 and v["manifest"]["funnel"]["kept"] == 30
    assert v["manifest"]["ledger"]["total"]["requests"] == 40 and v["manifest"]["prompt_templates"]
    assert c.get("/api/datasets/demo/v0001?per_page=7&page=5").json()["rows"][0]["rid"] == 28
    zh = c.get("/api/datasets/demo/v0001", params={"q": "长城"}).json()
    assert zh["total"] == 10 and all("长城" in r["instruction"] for r in zh["rows"])
    assert c.get("/api/datasets/demo/v0001", params={"q": "长"}).json()["total"] == 10  # 1 char: LIKE
    assert c.get("/api/datasets/demo/v0001", params={"q": "RIVERS"}).json()["total"] == 20  # case-insensitive
    assert c.get("/api/datasets/demo/v0001", params={"q": "reason 17"}).json()["total"] == 1  # meta too
    assert c.get("/api/datasets/demo/v0001", params={"lang": "zh"}).json()["total"] == 10
    assert c.get("/api/datasets/demo/v0001", params={"task_type": "classification"}).json()["total"] == 8
    assert c.get("/api/datasets/demo/v0001", params={"turns": "multi"}).json()["total"] == 3
    assert c.get("/api/datasets/demo/v0001", params={"source": "evol-instruct"}).json()["total"] == 1
    low = c.get("/api/datasets/demo/v0001", params={"score": "judge", "max": 2}).json()
    assert low["total"] == 12 and all(r["scores"]["judge"] <= 2 for r in low["rows"])
    best = c.get("/api/datasets/demo/v0001", params={"sort": "ifd"}).json()["rows"]
    assert [r["scores"]["ifd"] for r in best[:3]] == [0.9, 0.9, 0.9]
    asc = c.get("/api/datasets/demo/v0001", params={"sort": "judge", "order": "asc"}).json()["rows"]
    assert asc[0]["scores"]["judge"] == 1.0
    assert c.get("/api/datasets/demo/v0001?min=abc&score=judge").status_code == 400


def test_rejects_are_grouped_beside_the_text_they_duplicated(env):
    _, c = env
    rej = c.get("/api/datasets/demo/v0001").json()["rejects"]
    assert rej["total"] == 2
    rouge = next(g for g in rej["groups"] if g["reason"] == "rouge_duplicate")
    assert rouge["examples"][0]["similar"] == "Explain topic number 1 about rivers"
    assert "rouge_duplicate" in c.get("/d/demo/v0001").text


def test_a_record_shows_scores_lineage_and_provenance(env):
    store, c = env
    recs = store.read("demo@v0001")
    r = c.get(f"/api/datasets/demo/v0001/records/{recs[5].id}").json()
    assert {s["name"]: s["reason"] for s in r["scores"]}["judge"] == "reason 5"
    assert r["lineage"]["seed_id"] == "seed01" and [s["id"] for s in r["lineage"]["chain"]] == ["seed01", "p4"]
    multi = c.get(f"/api/datasets/demo/v0001/records/{recs[7].id}").json()
    assert len(multi["messages"]) == 4
    qa = store.read("docs-qa")[0]
    p = c.get(f"/api/datasets/docs-qa/v0001/records/{qa.id}").json()["provenance"]
    assert p["kind"] == "self-qa" and p["found"] and p["answer"] == qa.output
    assert p["before"].startswith("长城是中国古代") and p["doc"] == "wall.md"
    kg = store.read("kg")[0]
    t = c.get(f"/api/datasets/kg/v0001/records/{kg.id}").json()["provenance"]
    assert t["kind"] == "self-kg" and t["triples"][0]["tail"] == "Paris"


def test_review_undo_bulk_and_publish_make_a_new_version(env):
    store, c = env
    recs = store.read("demo@v0001")
    base = "/api/datasets/demo/v0001"
    d = c.post(base + "/review", json={"revision": 0, "action": "accept", "id": recs[0].id}).json()
    d = c.post(base + "/review", json={"revision": d["revision"], "action": "reject", "id": recs[1].id,
                                       "note": "off topic"}).json()
    d = c.post(base + "/review", json={"revision": d["revision"], "action": "edit", "id": recs[3].id,
                                       "edit": {"output": "a better answer"}, "note": "fixed"}).json()
    assert d["counts"] == {"accept": 1, "reject": 1, "edit": 1}
    d = c.post(base + "/review", json={"revision": d["revision"], "action": "undo"}).json()
    assert d["counts"]["edit"] == 0
    d = c.post(base + "/review", json={"revision": d["revision"], "action": "edit", "id": recs[3].id,
                                       "edit": {"output": "a better answer"}, "note": "fixed"}).json()
    d = c.post(base + "/review", json={"revision": d["revision"], "action": "reject",
                                       "filter": {"score": "judge", "max": "1"}}).json()
    assert d["selected"] == 6
    assert c.get(base, params={"review": "reject"}).json()["total"] == 7
    # record 0 (accepted) has judge 1: the bulk reject overrides it; 1 edited
    assert c.get(base, params={"review": "unreviewed"}).json()["total"] == 30 - 7 - 1
    pub = c.post(base + "/publish", json={"revision": d["revision"]})
    assert pub.status_code == 201, pub.text
    v = pub.json()
    assert v["version"] == "v0003" and v["parent"] == "v0001" and v["records"] == 23 and v["rejected"] == 7
    new = store.resolve("demo@v0003")
    assert new.manifest["parent"] == "v0001" and new.manifest["review"]["reject"] == 7
    assert new.manifest["review"]["of"] == "demo@v0001"
    assert {r["reason"] for r in new.rejects()} == {"human_rejected"}
    noted = next(r for r in new.rejects() if r["record"]["id"] == recs[1].id)
    assert noted["record"]["meta"]["review"]["note"] == "off topic"
    edited = next(r for r in new.records() if r.id == recs[3].id)
    assert edited.output == "a better answer" and edited.meta["review"]["before"]["output"] == "answer 3"
    assert store.verify("demo@v0001")  # the reviewed version itself never changed
    again = c.post(base + "/review", json={"revision": d["revision"] + 1, "action": "accept", "id": recs[0].id})
    assert again.status_code == 409 and "published" in again.json()["error"]
    cmp = c.get("/api/compare", params={"a": "demo@v0001", "b": "demo@v0003"}).json()
    assert cmp["counts"] == {"added": 0, "removed": 7, "changed": 1}
    ops = cmp["changed"][0]["fields"][0]["diff"]
    assert ops == [{"op": "ins", "text": "a better "}, {"op": "same", "text": "answer"}, {"op": "del", "text": " 3"}]
    assert cmp["changed"][0]["review"]["note"] == "fixed"


def test_publish_while_a_run_holds_the_lock_says_so(env, monkeypatch):
    store, c = env
    rec = store.read("kg")[0]
    d = c.post("/api/datasets/kg/v0001/review", json={"revision": 0, "action": "reject", "id": rec.id}).json()
    import datagen.studio.review as review

    monkeypatch.setattr(review, "LOCK_WAIT", 0.5)
    with store.lock("kg"):  # a CLI refresh in progress
        r = c.post("/api/datasets/kg/v0001/publish", json={"revision": d["revision"]})
    assert r.status_code == 423 and "being written by another run" in r.json()["error"]
    assert store.versions("kg") == ["v0001"]
    # released: the same draft publishes
    assert c.post("/api/datasets/kg/v0001/publish", json={"revision": d["revision"]}).status_code == 201


def test_publish_waits_for_a_lock_released_soon(env):
    store, c = env
    rec = store.read("kg")[0]
    d = c.post("/api/datasets/kg/v0001/review", json={"revision": 0, "action": "accept", "id": rec.id}).json()
    lock = store.lock("kg").acquire()
    threading.Timer(0.6, lock.release).start()
    r = c.post("/api/datasets/kg/v0001/publish", json={"revision": d["revision"]})
    assert r.status_code == 201 and r.json()["version"] == "v0002"


def test_the_draft_is_a_plain_json_file_beside_the_version(env):
    store, c = env
    rec = store.read("kg")[0]
    c.post("/api/datasets/kg/v0001/review", json={"revision": 0, "action": "reject", "id": rec.id, "note": "n"})
    draft = json.loads((store.root / "kg" / ".studio" / "v0001.review.json").read_text())
    assert draft["revision"] == 1 and draft["actions"][rec.id]["note"] == "n"
    assert store.names() == ["demo", "docs-qa", "kg"]  # the .studio folder is no dataset


def test_word_diff_splits_words_and_chinese_characters():
    assert word_diff("the cat sat", "the dog sat") == [
        {"op": "same", "text": "the "}, {"op": "del", "text": "cat"}, {"op": "ins", "text": "dog"},
        {"op": "same", "text": " sat"}]
    assert {"op": "ins", "text": "很"} in word_diff("长城长", "长城很长")


def test_a_version_report_is_built_once_then_its_figures_are_served(env):
    pytest.importorskip("matplotlib")
    store, c = env
    before = c.get("/api/datasets/demo/v0001/report").json()
    assert before == {"built": False, "figures": [], "html": None, "missing": None}
    assert "build-report" in c.get("/d/demo/v0001").text
    assert httpx.post(c.base_url.join("/api/datasets/demo/v0001/report")).status_code == 403  # no XSRF
    assert c.get("/d/demo/v0001/figures/lengths.png").status_code == 404  # nothing built yet
    built = c.post("/api/datasets/demo/v0001/report", timeout=120).json()
    assert built["built"] and "lengths.png" in built["figures"] and built["html"] == "/d/demo/v0001/report/report.html"
    folder = store.dataset_dir("demo") / ".studio" / "reports" / "v0001"
    assert sorted(p.name for p in folder.glob("*.png")) == built["figures"]
    assert c.get("/api/datasets/demo/v0001").json()["report"] == built
    png = c.get("/d/demo/v0001/figures/lengths.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    html = c.get(built["html"])
    assert html.status_code == 200 and "demo@v0001" in html.text
    page = c.get("/d/demo/v0001").text
    assert "build-report" not in page and 'src="/d/demo/v0001/figures/lengths.png"' in page
    # reused: a second build returns the same folder untouched
    mtime = (folder / "report.html").stat().st_mtime_ns
    assert c.post("/api/datasets/demo/v0001/report").json() == built
    assert (folder / "report.html").stat().st_mtime_ns == mtime
    # only PNGs of that folder, by plain names
    (store.dataset_dir("demo") / ".studio" / "secret.png").write_bytes(b"\x89PNG no")
    for bad in ("..%2Fsecret.png", "%2E%2E%2F%2E%2E%2Fv0001.sqlite", "stats.json", "report.html", "x.png"):
        assert c.get(f"/d/demo/v0001/figures/{bad}").status_code in (400, 404), bad
    assert c.get("/d/demo/v0001/figures/../../v0001.review.json").status_code in (400, 404)
    assert c.get("/d/demo/v0002/figures/lengths.png").status_code == 404  # another version's: not built


def test_a_report_without_matplotlib_is_one_line_not_a_500(env, monkeypatch):
    import sys

    _, c = env
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the `report` extra were not installed
    view = c.get("/api/datasets/demo/v0002/report").json()
    assert not view["built"] and "'report' extra" in view["missing"]
    r = c.post("/api/datasets/demo/v0002/report")
    assert r.status_code == 501 and "pip install 'datagen[report]'" in r.json()["error"]
    page = c.get("/d/demo/v0002")
    assert page.status_code == 200 and "report-missing" in page.text and "build-report" not in page.text
