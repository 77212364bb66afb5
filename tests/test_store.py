"""The dataset store: atomic versions, refresh from the parent, lock, resume, no secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from datagen.errors import ConfigError, LockHeldError
from datagen.llm import LLMConfig, make_client
from datagen.records import Record
from datagen.run.job import Run, RunSettings
from datagen.run.publish import publish_run
from datagen.store import DatasetStore, file_sha256, split_ref
from test_store_fakes import FakeConfig, FakeGenerator, responder


def recs(*texts):
    return [Record(instruction=t, output=f"answer to {t}") for t in texts]


def llm(stub, tmp_path, **kw):
    return LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0,
                     cache_path=str(tmp_path / "cache" / "r.sqlite"), concurrency=2, **kw)


def filter_cfg():
    from datagen.filters import FilterConfig

    return FilterConfig(embed=None)


def run_once(stub, tmp_path, num=4, gen=None, seed=0, store="store"):
    cfg = llm(stub, tmp_path)
    gen = gen or FakeGenerator()
    settings = RunSettings(num=num, seed=seed, lang="en", dataset="demo", store=str(tmp_path / store))
    client = make_client(cfg)
    try:
        return publish_run(Run(gen, settings, cfg, filter_cfg(), client=client))
    finally:
        client.close()


# -- refs and plain publish ----------------------------------------------------------

def test_split_ref_forms():
    assert split_ref("demo") == ("demo", None)
    assert split_ref("demo@latest") == ("demo", None)
    assert split_ref("demo@v2") == ("demo", "v0002")
    assert split_ref("demo@0003") == ("demo", "v0003")
    for bad in ("../x", "a/b", "demo@vx", "demo@0", ""):
        with pytest.raises(ConfigError):
            split_ref(bad)


def test_publish_writes_an_immutable_complete_version(tmp_path):
    store = DatasetStore(tmp_path)
    with store.lock("demo"):
        v1 = store.publish("demo", recs("a b c", "d e f"), [{"reason": "too short"}], {"generator": "x"})
    assert v1.version == "v0001" and v1.manifest["parent"] is None
    assert store.names() == ["demo"] and store.versions("demo") == ["v0001"]
    m = json.loads((v1.path / "manifest.json").read_text())
    assert m["name"] == "demo" and m["counts"]["records"] == 2 and m["counts"]["rejects"] == 1
    assert m["data_sha256"] == file_sha256(v1.path / "data.jsonl")
    assert store.verify("demo@v1")
    assert [r.instruction for r in store.read("demo")] == ["a b c", "d e f"]
    for f in ("data.jsonl", "rejects.jsonl", "manifest.json"):
        assert not os.stat(v1.path / f).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    with store.lock("demo"):
        v2 = store.publish("demo", recs("x y z"), [], {}, parent="v0001")
    assert store.resolve("demo").version == "v0002" == v2.version
    assert store.resolve("demo@v1").manifest["counts"]["records"] == 2
    with pytest.raises(ConfigError, match="no version v0009"):
        store.resolve("demo@v9")
    with pytest.raises(ConfigError, match="no dataset 'nope'"):
        store.resolve("nope")


def test_crash_between_write_and_rename_leaves_no_version(tmp_path, monkeypatch):
    store = DatasetStore(tmp_path)

    def killed(src, dst):
        raise KeyboardInterrupt("killed just before publishing")

    monkeypatch.setattr("datagen.store.versions.os.rename", killed)
    with store.lock("demo"), pytest.raises(KeyboardInterrupt):
        store.publish("demo", recs("a b c"), [], {})
    monkeypatch.undo()
    assert store.versions("demo") == [] and store.names() == []
    assert not [p for p in (tmp_path / "demo").iterdir() if p.name.startswith(".tmp-")]


def test_temp_dir_of_a_hard_kill_is_invisible_and_cleaned(tmp_path):
    store = DatasetStore(tmp_path)
    with store.lock("demo"):
        store.publish("demo", recs("a b c"), [], {})
    # what SIGKILL during publish leaves: a half-written hidden temp folder
    left = tmp_path / "demo" / ".tmp-dead"
    left.mkdir()
    (left / "data.jsonl").write_text('{"instruction": "half')
    assert store.versions("demo") == ["v0001"]
    assert [r.instruction for r in store.read("demo")] == ["a b c"]
    with store.lock("demo"):
        assert store.clean_temp("demo") == 1
    assert not left.exists()


# -- lock ----------------------------------------------------------------------------

def in_thread(fn):
    """Run fn in another thread (the lock is re-entrant within one thread); return its
    exception or None."""
    box = []

    def run():
        try:
            fn()
            box.append(None)
        except Exception as e:  # noqa: BLE001 - handed back to the test
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return box[0]


def test_second_writer_gets_lock_held_error(tmp_path, stub):
    store = DatasetStore(tmp_path / "store")
    stub.default = responder
    with store.lock("demo"):
        err = in_thread(lambda: store.lock("demo").acquire())
        assert isinstance(err, LockHeldError) and f"pid {os.getpid()}" in str(err)
        assert err.exit_code == 3
        assert isinstance(in_thread(lambda: run_once(stub, tmp_path)), LockHeldError)
    assert not stub.requests  # refused before paying for anything
    assert in_thread(lambda: store.lock("demo").acquire().release()) is None  # free again


def test_lock_is_taken_once_per_run(stub, tmp_path):
    """One owner per run: a second take in the same process is refused like any other
    writer's, and the owner hands its held lock to publish_run instead."""
    store = DatasetStore(tmp_path)
    with store.lock("demo") as lock:
        assert lock.held
        with pytest.raises(LockHeldError):
            store.lock("demo").acquire()
        assert isinstance(in_thread(lambda: store.lock("demo").acquire()), LockHeldError)
        stub.default = responder
        cfg = llm(stub, tmp_path)
        client = make_client(cfg)
        try:
            res = publish_run(Run(FakeGenerator(), RunSettings(num=2, lang="en", dataset="demo", store=str(tmp_path)),
                                  cfg, filter_cfg(), lock=lock, client=client))
        finally:
            client.close()
        assert res.version.version == "v0001"
    assert not lock.held
    assert in_thread(lambda: store.lock("demo").acquire().release()) is None


def test_publish_run_refuses_a_lock_it_was_not_given_held(tmp_path):
    store = DatasetStore(tmp_path)
    with pytest.raises(RuntimeError, match="held lock"):
        publish_run(Run(FakeGenerator(), RunSettings(num=2, lang="en", dataset="demo", store=str(tmp_path)),
                        LLMConfig(), filter_cfg(), lock=store.lock("demo")))
    assert store.versions("demo") == []


def test_lock_held_by_another_process(tmp_path):
    code = ("import sys, time; from datagen.store import DatasetStore; "
            "l = DatasetStore(sys.argv[1]).lock('demo').acquire(); print('held', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}"):
            DatasetStore(tmp_path).lock("demo").acquire()
    finally:
        proc.kill()
        proc.wait()
    DatasetStore(tmp_path).lock("demo").acquire().release()  # a killed holder leaves no stale lock


# -- refresh -------------------------------------------------------------------------

def test_refresh_dedups_against_parent_and_snapshots(tmp_path, stub):
    stub.default = responder
    first = run_once(stub, tmp_path, num=4, gen=FakeGenerator(FakeConfig(repeat_every=3)))
    assert first.version.version == "v0001" and first.added == 4
    v1 = {r.instruction for r in first.version.records()}
    assert "Describe the weather in the capital of France today" in v1

    second = run_once(stub, tmp_path, num=3, gen=FakeGenerator(FakeConfig(repeat_every=3)))
    v2 = second.version
    assert v2.version == "v0002" and v2.manifest["parent"] == "v0001"
    assert v2.manifest["counts"] == {"added": 3, "records": 7, "rejects": len(second.rejects)}
    got = [r.instruction for r in v2.records()]
    assert set(got) >= v1 and len(got) == len(set(got)) == 7
    # the repeated task came back and was dropped as a duplicate of the parent
    assert any(r["reason"] == "parent_duplicate" for r in second.rejects)
    assert v2.manifest["funnel"]["dropped"]


def test_refresh_rouge_catches_near_duplicates_of_parent(tmp_path, stub):
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        store.publish("demo", recs("Describe the weather in the capital of France today"), [], {})
    stub.default = lambda body: "Describe the weather in the capital of France this morning"
    result = run_once(stub, tmp_path, num=1)
    assert result.version is None and result.added == 0
    assert result.rejects and all(r["reason"] != "parent_duplicate" for r in result.rejects)
    assert store.versions("demo") == ["v0001"]
    assert any("nothing published" in n for n in result.report.notes)


# -- resume --------------------------------------------------------------------------

def test_rerun_after_crash_replays_cache_and_publishes_once(tmp_path, stub):
    stub.default = responder
    with pytest.raises(KeyboardInterrupt):
        run_once(stub, tmp_path, num=6, gen=FakeGenerator(FakeConfig(crash_after=4)))
    paid = len(stub.requests)
    assert paid == 4 and DatasetStore(tmp_path / "store").versions("demo") == []

    result = run_once(stub, tmp_path, num=6)
    assert result.version.version == "v0001" and result.added == 6
    assert len(stub.requests) == 6  # only the 2 calls the killed run never made
    bodies = [json.dumps(b, sort_keys=True) for b in stub.requests]
    assert len(set(bodies)) == len(bodies)
    assert result.version.manifest["usage"]["cached"] == 4


def test_each_refresh_asks_new_questions(tmp_path, stub):
    stub.default = responder
    run_once(stub, tmp_path, num=2)
    run_once(stub, tmp_path, num=2)
    seeds = [b["seed"] for b in stub.requests]
    assert len(seeds) == len(set(seeds)) == 4


# -- manifest ------------------------------------------------------------------------

def test_manifest_records_provenance_and_never_the_api_key(tmp_path, stub, monkeypatch):
    secret = "sk-live-do-not-write-me-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "x"}\n')
    stub.default = responder
    gen = FakeGenerator()
    gen.report.inputs = [str(seeds)]
    result = run_once(stub, tmp_path, num=2, gen=gen)
    v = result.version
    m = v.manifest
    for key in ("name", "version", "parent", "created", "datagen_version", "config", "generator", "backend",
                "model", "prompt_templates", "inputs", "counts", "funnel", "usage", "data_sha256"):
        assert key in m, key
    assert m["backend"] == "openai" and m["model"] == "stub" and m["generator"] == "fake"
    assert m["inputs"] == {str(seeds): file_sha256(seeds)}
    assert m["config"]["llm"]["base_url"] == [stub.url] and m["config"]["generator"]["seed"] == 0
    assert m["usage"]["requests"] == 2 and m["prompt_templates"] == {"en/fake": "0123456789ab"}
    for f in v.path.iterdir():
        assert secret not in f.read_text()
    # the key did reach the server: it was used, just not written down
    assert stub.requests
