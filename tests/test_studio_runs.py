"""datagen/studio/jobs.py and runs_api.py: runs started from the studio are `datagen run`
in a child process, followed live over server-sent events, cancellable, and they publish
into the studio's store."""

import json
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from stub_server import Reply  # noqa: E402
from studio_store import live_server  # noqa: E402

from datagen.store import DatasetStore  # noqa: E402
from datagen.studio import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRIPLES = str(ROOT / "seeds" / "kg_en.jsonl")


@pytest.fixture()
def studio(tmp_path):
    store = DatasetStore(tmp_path / "store")
    with live_server(create_app(store.root, cwd=ROOT)) as url:
        c = httpx.Client(base_url=url, timeout=30)
        c.headers["X-XSRF-Token"] = c.get("/api/session").json()["xsrf"]
        yield store, c


def wait_done(c, rid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = c.get(f"/api/runs/{rid}").json()
        if view["state"] != "running":
            return view
        time.sleep(0.2)
    raise AssertionError(f"run {rid} still running: {view['lines'][-5:]}")


def sse_events(c, rid):
    events, kind = [], None
    with c.stream("GET", f"/api/runs/{rid}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "end":
                    break
    return events


def test_a_generator_run_streams_its_progress_and_publishes_into_the_store(studio):
    store, c = studio
    r = c.post("/api/runs", json={"kind": "generator", "generator": "self-kg",
                                  "args": f"--triples {TRIPLES} --mode template --num 5 --dataset kgt"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    events = sse_events(c, rid)
    lines = [d for k, d in events if k == "line"]
    end = events[-1]
    assert end[0] == "end" and end[1]["state"] == "succeeded" and end[1]["published"] == ["kgt@v0001"]
    assert any("self-kg: kept 5 of 5" in line for line in lines)
    assert store.resolve("kgt@v0001").manifest["counts"]["records"] == 5
    assert c.get("/api/runs").json()["runs"][0]["published"] == ["kgt@v0001"]
    assert 'href="/d/kgt/v0001"' in c.get("/runs").text
    # the version it published is in the studio like any other
    assert c.get("/api/datasets/kgt/v0001").json()["total"] == 5


def test_a_pipeline_run_from_its_yaml(studio, tmp_path):
    store, c = studio
    yaml = tmp_path / "kg.yaml"
    yaml.write_text(f"generator:\n  type: self-kg\n  triples: {TRIPLES}\n  mode: template\n  num: 3\n"
                    "dataset:\n  name: kgp\n  store: elsewhere\n", encoding="utf-8")
    r = c.post("/api/runs", json={"kind": "pipeline", "path": str(yaml)})
    assert r.status_code == 201, r.text
    view = wait_done(c, r.json()["id"])
    assert view["state"] == "succeeded", view["lines"][-5:]
    assert view["published"] == ["kgp@v0001"] and store.versions("kgp") == ["v0001"]


def test_cancel_stops_a_run_waiting_on_its_model(studio, stub):
    store, c = studio
    stub.default = lambda body: Reply(body={"error": "never"}, delay=60)
    r = c.post("/api/runs", json={"kind": "generator", "generator": "self-kg", "args": [
        "--triples", TRIPLES, "--num", "3", "--dataset", "kgc", "--backend", "openai",
        "--base-url", stub.url, "--model", "m"]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    deadline = time.monotonic() + 30
    while not stub.requests and time.monotonic() < deadline:  # the run is waiting on its first reply
        if c.get(f"/api/runs/{rid}").json()["state"] != "running":
            break
        time.sleep(0.1)
    assert stub.requests, c.get(f"/api/runs/{rid}").json()["lines"]
    assert c.post(f"/api/runs/{rid}/cancel").json()["state"] == "running"
    view = wait_done(c, rid, timeout=30)
    assert view["state"] == "cancelled" and view["published"] == []
    assert store.versions("kgc") == []


@pytest.mark.parametrize("body, word", [
    ({"kind": "generator", "generator": "rm -rf", "args": ""}, "generator"),
    ({"kind": "generator", "generator": "self-kg", "args": "--store /etc"}, "--store"),
    ({"kind": "pipeline", "path": "/etc/passwd"}, "yaml"),
    ({"kind": "shell"}, "kind"),
])
def test_bad_start_requests_are_400(studio, body, word):
    _, c = studio
    r = c.post("/api/runs", json=body)
    assert r.status_code == 400 and word in r.json()["error"]


def test_starting_a_run_needs_the_xsrf_token(studio):
    _, c = studio
    r = httpx.post(str(c.base_url) + "/api/runs", json={"kind": "generator", "generator": "self-kg"})
    assert r.status_code == 403
    assert c.get("/api/runs/r999").status_code == 404 and c.get("/api/runs/x..y").status_code == 400
