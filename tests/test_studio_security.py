"""datagen/studio/security.py and refs.py against a live server on 127.0.0.1: the token,
the Host check, XSRF on POST, path traversal, stale revisions, secrets never shown."""

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from studio_store import live_server, make_store  # noqa: E402

from datagen.studio import create_app  # noqa: E402
from datagen.studio.server import settle_token  # noqa: E402

TOKEN = "t0ken-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("studio") / "store")


@pytest.fixture(scope="module")
def open_url(store):
    with live_server(create_app(store.root)) as url:
        yield url


@pytest.fixture(scope="module")
def token_url(store):
    with live_server(create_app(store.root, token=TOKEN)) as url:
        yield url


def xsrf(client):
    return client.get("/api/session").json()["xsrf"]


def test_a_non_loopback_bind_always_gets_a_token():
    assert settle_token("127.0.0.1", None) is None
    assert settle_token("localhost", None) is None
    assert len(settle_token("0.0.0.0", None)) >= 16
    assert len(settle_token("127.0.0.1", "generate")) >= 16
    assert settle_token("10.0.0.5", TOKEN) == TOKEN


def test_without_the_token_every_page_and_api_call_is_401(token_url):
    c = httpx.Client(base_url=token_url)
    for path in ("/", "/d/demo/v0001", "/api/datasets", "/api/session", "/static/studio.js", "/compare"):
        assert c.get(path).status_code == 401, path
    assert c.get("/api/datasets", headers={"Authorization": "token wrong-token-xxxxxxxxx"}).status_code == 401
    assert c.post("/api/datasets/demo/v0001/review", json={}).status_code == 401


def test_the_token_by_header_or_by_the_printed_url(token_url):
    c = httpx.Client(base_url=token_url)
    assert c.get("/api/datasets", headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    assert c.get("/api/datasets", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    r = c.get(f"/?token={TOKEN}")  # sets the cookie, redirects to the URL without the token
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "HttpOnly" in r.headers["set-cookie"]
    assert c.get("/").status_code == 200  # the cookie now stands for the token


def test_a_post_without_the_xsrf_token_is_403(open_url):
    c = httpx.Client(base_url=open_url)
    body = {"revision": 0, "action": "accept", "id": "x"}
    assert c.post("/api/datasets/demo/v0001/review", json=body).status_code == 403
    r = c.post("/api/datasets/demo/v0001/review", json=body, headers={"X-XSRF-Token": "guess"})
    assert r.status_code == 403 and "XSRF" in r.json()["error"]
    assert c.post("/api/datasets/demo/v0001/publish", json={"revision": 0}).status_code == 403


def test_a_foreign_host_name_is_refused_on_loopback(open_url):
    """DNS rebinding: evil.example resolving to 127.0.0.1 must not reach the store."""
    c = httpx.Client(base_url=open_url)
    assert c.get("/api/datasets", headers={"Host": "evil.example"}).status_code == 403
    assert c.get("/api/datasets", headers={"Host": "localhost:1234"}).status_code == 200


@pytest.mark.parametrize("path", [
    "/api/datasets/..%2F..%2Fetc/v0001",
    "/api/datasets/%2Fetc/v0001",
    "/api/datasets/demo/..%2F..%2Fpasswd",
    "/api/datasets/demo/v0001/records/..%2F..%2Fmanifest.json",
    "/api/datasets/de%20mo/v0001",
    "/api/datasets/.hidden/v0001",
    "/api/datasets/demo/latest%00",
    "/d/demo/v1%2F..%2F..",
    "/api/compare?a=../x@v0001&b=demo@v0001",
    "/api/datasets/demo/v0001/records/a%3Cb",
])
def test_path_traversal_and_odd_names_are_400(open_url, path):
    r = httpx.get(open_url + path)
    assert r.status_code == 400, (path, r.status_code, r.text[:200])


def test_an_unknown_dataset_is_404_and_reads_nothing(open_url):
    assert httpx.get(open_url + "/api/datasets/nope/v0001").status_code == 404


def test_a_stale_revision_is_409_not_an_overwrite(open_url, store):
    c = httpx.Client(base_url=open_url)
    h = {"X-XSRF-Token": xsrf(c)}
    ids = [r.id for r in store.read("kg@v0001")]
    first = c.post("/api/datasets/kg/v0001/review", json={"revision": 0, "action": "accept", "id": ids[0]}, headers=h)
    assert first.status_code == 200 and first.json()["revision"] == 1
    # a second tab still at revision 0
    stale = c.post("/api/datasets/kg/v0001/review", json={"revision": 0, "action": "reject", "id": ids[0]}, headers=h)
    assert stale.status_code == 409 and "stale" in stale.json()["error"]
    assert c.get("/api/datasets/kg/v0001/review").json()["actions"][ids[0]]["action"] == "accept"
    assert c.post("/api/datasets/kg/v0001/publish", json={"revision": 0}, headers=h).status_code == 409


def test_api_keys_never_reach_a_page_or_the_api(open_url):
    c = httpx.Client(base_url=open_url)
    for path in ("/", "/d/demo/v0001", "/api/datasets/demo/v0001", "/api/datasets", "/compare?a=demo@v0001&b=demo@v0002"):
        assert "sk-SECRET" not in c.get(path).text, path


def test_responses_forbid_framing_and_inline_scripts(open_url):
    r = httpx.get(open_url + "/d/demo/v0001")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_record_text_is_escaped_in_the_page(open_url, store):
    rec = store.read("demo@v0001")[2]
    page = httpx.get(open_url + f"/d/demo/v0001/r/{rec.id}").text
    assert "<script>window.__pwned" not in page and "&lt;script&gt;window.__pwned" in page
    assert "<img src=x onerror" not in page and 'href="javascript:' not in page
