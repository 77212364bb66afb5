"""The studio in a real browser: Playwright driving Debian's chromium against a live
server on 127.0.0.1. Open a version, search in Chinese, review three records by keyboard,
bulk-reject by a score filter, publish and check the new version's lineage and rejects,
open a Self-QA record's provenance, and prove a planted <script>/<img onerror>/javascript:
record ran nothing. Screenshots go to the test's tmp dir (and, with
DATAGEN_DOCS_SCREENSHOT=1, the version page to docs/img/studio-version.png)."""

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")

from studio_store import live_server, make_store  # noqa: E402

from datagen.studio import create_app  # noqa: E402

CHROMIUM = os.environ.get("DATAGEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img" / "studio-version.png"

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no chromium on PATH (apt-get install chromium; `make chromium`)")


@pytest.fixture()
def browser_page():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs
        try:
            yield page
        finally:
            browser.close()


def status_is(page, prefix: str):
    page.wait_for_function("p => (document.getElementById('status') || {}).textContent.startsWith(p)", arg=prefix,
                           timeout=10_000)


def pwned(page):
    return page.evaluate("window.__pwned === undefined ? null : window.__pwned")


def test_review_in_the_browser(tmp_path, browser_page):
    page = browser_page
    store = make_store(tmp_path / "store")
    shots = tmp_path / "shots"
    shots.mkdir()
    with live_server(create_app(store.root)) as url:
        # open a version from the dashboard
        page.goto(url + "/")
        page.screenshot(path=shots / "datasets.png", full_page=True)
        page.click("#ds-demo a[href='/d/demo/v0001']")
        page.wait_for_selector("#records tbody tr")
        assert page.locator("#records tbody tr").count() == 30
        page.screenshot(path=shots / "version.png")
        if os.environ.get("DATAGEN_DOCS_SCREENSHOT"):
            DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=DOCS_IMG)
        # the planted record shows as text and ran nothing
        assert pwned(page) is None
        assert page.locator("#records td.text", has_text="<script>window.__pwned").count() == 1

        # search in Chinese
        page.fill("#q", "长城")
        page.press("#q", "Enter")
        page.wait_for_url("**q=*")
        rows = page.locator("#records tbody tr td.text a")
        assert rows.count() == 10 and all("长城" in t for t in rows.all_inner_texts())
        page.screenshot(path=shots / "search-zh.png")

        # review three records by keyboard: a, r (with a note), e (edit dialog)
        page.goto(url + "/d/demo/v0001")
        first_ids = page.eval_on_selector_all("#records tbody tr", "rs => rs.slice(0, 3).map(r => r.dataset.id)")
        page.keyboard.press("a")
        status_is(page, "accepted")
        page.fill("#note", "off topic")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("r")
        status_is(page, "rejected")
        page.keyboard.press("e")
        page.wait_for_selector("#editor[open]")
        page.fill("#edit-form textarea[name=output]", "A safe answer.")
        page.click("#edit-save")
        status_is(page, "edited")
        page.screenshot(path=shots / "reviewed.png")
        draft = page.evaluate("fetch('/api/datasets/demo/v0001/review').then(r => r.json())")
        assert {i: a["action"] for i, a in draft["actions"].items()} == {
            first_ids[0]: "accept", first_ids[1]: "reject", first_ids[2]: "edit"}
        assert draft["actions"][first_ids[1]]["note"] == "off topic"
        # u undoes the edit, e redoes it
        page.keyboard.press("u")
        status_is(page, "undone")
        assert page.evaluate("fetch('/api/datasets/demo/v0001/review').then(r => r.json())")["counts"]["edit"] == 0
        page.keyboard.press("e")  # undo put the selection back on the edited row
        page.wait_for_selector("#editor[open]")
        page.fill("#edit-form textarea[name=output]", "A safe answer.")
        page.click("#edit-save")
        status_is(page, "edited")

        # bulk-reject by a score filter: judge <= 1
        page.select_option("#score-name", "judge")
        page.fill("#score-max", "1")
        page.click("#filters button[type=submit]")
        page.wait_for_url("**max=1*")
        assert page.locator("#matching").inner_text() == "6"
        page.click("#bulk-reject")
        status_is(page, "rejected 6")
        page.screenshot(path=shots / "bulk.png")

        # publish, then the new version names its parent and holds the rejects
        page.click("#publish")
        page.wait_for_selector("#published-link", timeout=15_000)
        page.click("#published-link")
        page.wait_for_selector("#records")
        assert page.locator("#parent").inner_text() == "v0001"
        assert "of demo@v0001" in page.locator("#review-of").inner_text()
        assert "human_rejected" in page.locator("#rejects").inner_text()
        page.screenshot(path=shots / "published.png", full_page=True)
        new = store.resolve("demo@v0003")
        assert new.manifest["parent"] == "v0001" and new.manifest["counts"]["records"] == 23
        assert sum(r["reason"] == "human_rejected" for r in new.rejects()) == 7
        assert next(r for r in new.records() if r.id == first_ids[2]).output == "A safe answer."

        # a Self-QA record's provenance: the chunk with the answer highlighted
        page.goto(url + "/d/docs-qa/v0001")
        page.click("#records tbody tr td.text a")
        page.wait_for_selector("#provenance")
        qa = store.read("docs-qa")[0]
        assert page.locator("#answer-span").inner_text() == qa.output
        assert "长城是中国古代的军事防御工程" in page.locator("#chunk").inner_text()
        page.screenshot(path=shots / "provenance.png", full_page=True)

        # the planted record's own page: shown as text, nothing ran, no dialog opened
        xss = store.read("demo@v0001")[2]
        page.goto(url + f"/d/demo/v0001/r/{xss.id}")
        assert "<script>window.__pwned" in page.locator("#f-output").inner_text()
        page.screenshot(path=shots / "xss.png", full_page=True)
        assert pwned(page) is None and page.dialogs == []
        assert page.locator("#f-output a").count() == 0 and page.locator("#f-output img").count() == 0
    assert len(list(shots.glob("*.png"))) == 8


def test_start_a_run_from_the_page_and_open_its_version(tmp_path, browser_page):
    page = browser_page
    store = make_store(tmp_path / "store")
    root = Path(__file__).resolve().parent.parent
    with live_server(create_app(store.root, cwd=root)) as url:
        page.goto(url + "/runs")
        page.select_option("#start-generator select[name=generator]", "self-kg")
        page.fill("#start-generator input[name=args]",
                  "--triples seeds/kg_en.jsonl --mode template --num 4 --dataset kg-from-page")
        page.click("#start-generator button[type=submit]")
        page.wait_for_selector("a.published-version", timeout=60_000)  # the log streamed in over SSE
        assert "self-kg: kept 4 of 4" in page.locator("#run-log").inner_text()
        assert page.locator("#run-state").inner_text().startswith("succeeded")
        page.screenshot(path=tmp_path / "runs.png", full_page=True)
        page.click("a.published-version")
        page.wait_for_selector("#records")
        assert page.locator("#records tbody tr").count() == 4
    assert store.versions("kg-from-page") == ["v0001"]


def test_build_a_version_report_from_its_page(tmp_path, browser_page):
    pytest.importorskip("matplotlib")
    page = browser_page
    store = make_store(tmp_path / "store")
    with live_server(create_app(store.root)) as url:
        page.goto(url + "/d/demo/v0002")
        assert page.locator("#report figure").count() == 0
        page.click("#build-report")  # a POST with the page's XSRF token, then the page reloads
        page.wait_for_selector("#report figure img", timeout=120_000)
        page.wait_for_function("() => Array.from(document.querySelectorAll('#report img'))"
                               ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)
        assert page.locator("#build-report").count() == 0 and page.locator("#report-html").count() == 1
        page.screenshot(path=tmp_path / "report.png", full_page=True)
        page.click("#report-html")
        page.wait_for_load_state()
        assert "demo@v0002" in page.content()
    assert (store.dataset_dir("demo") / ".studio" / "reports" / "v0002" / "report.html").is_file()
