"""`datagen score --executor ray` on a local 2-CPU Ray cluster: the version published is the
one `--executor local` publishes (same scores, order and manifest but the executor), a
killed worker's block is retried with nothing scored twice or lost, the workers' judge
answers are folded into the driver's cache."""

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from datagen.cli import main  # noqa: E402
from datagen.records import Record  # noqa: E402
from datagen.store import DatasetStore  # noqa: E402

pytestmark = pytest.mark.ray

TOPICS = "tea river stone copper lantern orchard meadow harbor violin glacier basket falcon".split()


@pytest.fixture
def store(tmp_path):
    st = DatasetStore(tmp_path / "store")
    recs = [Record(instruction=f"Describe the {t} in one sentence.", output=f"The {t} is item {i}.")
            for i, t in enumerate(TOPICS)]
    recs.append(Record(instruction="Explain nothing.", output=""))  # a reply the judge cannot read, twice
    with st.lock("d"):
        st.publish("d", recs, [], {"generator": "self-instruct", "model": "gen-model"})
    return st


def judge(body):
    """A score from the record's text; 'nothing' gets an unreadable reply (and its repair
    too: judge_failed); 'glacier' is readable only after the repair turn."""
    msgs = body["messages"]
    prompt = msgs[0]["content"]
    if "Explain nothing." in prompt:
        return "I cannot rate this."
    if "glacier" in prompt and len(msgs) == 1:
        return "Great answer, I like it."
    return json.dumps({"score": 1 + sum(map(ord, prompt)) % 5, "reason": "stub"})


def score(store, ref, *args):
    res = CliRunner().invoke(main, ["score", ref, "--scorer", "judge", "--store", str(store.root), "--block", "3",
                                    "--max-retries", "0", *map(str, args)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def same_apart_from_executor(a, b):
    """Two published versions: the same records and manifest but for what says where
    and when they ran."""
    assert [r.to_dict() for r in a.records()] == [r.to_dict() for r in b.records()]
    ma, mb = dict(a.manifest), dict(b.manifest)
    for m in (ma, mb):
        for k in ("version", "created"):
            m.pop(k)
        m["score"] = {k: v for k, v in m["score"].items() if k not in ("seconds", "executor")}
        m["score"]["llm"] = {k: v for k, v in m["score"].get("llm", {}).items() if k != "cache_path"}
    assert ma == mb


def test_judge_on_ray_publishes_what_local_publishes(cluster, stub, store, tmp_path):
    stub.responder = judge
    out = score(store, "d@v1", "--judge-base-url", stub.url, "--cache-path", tmp_path / "a.sqlite")
    assert "scored 12 records with judge (1 failed: 1 judge_failed); published d@v0002" in out
    local_calls = len(stub.requests)
    out = score(store, "d@v1", "--judge-base-url", stub.url, "--cache-path", tmp_path / "b.sqlite",
                "--executor", "ray", "--ray-workers", 2)
    assert "on Ray (5 blocks); published d@v0003" in out
    ray_calls = len(stub.requests) - local_calls
    assert ray_calls == local_calls == 13 + 2  # one request per record, one repair each for two
    local, on_ray = store.resolve("d@v2"), store.resolve("d@v3")
    same_apart_from_executor(local, on_ray)
    assert (local.manifest["score"]["executor"], on_ray.manifest["score"]["executor"]) == ("local", "ray")
    scores = [r.meta["scores"]["judge"] for r in on_ray.records()]
    assert scores[TOPICS.index("glacier")]["repaired"] is True and scores[-1]["error"] == "judge_failed"
    assert on_ray.manifest["usage"]["requests"] == ray_calls  # the workers' usage, on the driver
    # the workers' answers are in the driver's cache file: a re-run on Ray asks nothing
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == ray_calls
    score(store, "d@v1", "--judge-base-url", stub.url, "--cache-path", tmp_path / "b.sqlite", "--executor", "ray")
    assert len(stub.requests) == local_calls + ray_calls
    again = store.resolve("d@v4")
    assert [r.to_dict() for r in again.records()] == [r.to_dict() for r in local.records()]
    assert (again.manifest["usage"]["requests"], again.manifest["usage"]["cached"]) == (0, ray_calls)


def test_killed_scoring_worker_is_retried_without_duplicates(cluster, stub, store, tmp_path, monkeypatch):
    import datagen.quality.stage as stage
    from datagen.llm import LLMConfig, make_client
    from datagen.quality import ScoreConfig, ScoreWork
    from datagen.run.executor import RayExecutor

    marker = tmp_path / "crashed"

    class CrashOnce(ScoreWork):  # defined here: Ray pickles it by value
        def run_block(self, block, scorer):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return super().run_block(block, scorer)
            os.close(fd)
            os._exit(1)  # the worker process dies mid-block, before returning anything

    stub.responder = judge
    llm = LLMConfig(backend="openai", base_url=[stub.url], cache=False, max_retries=0)
    cfg = ScoreConfig(scorer="judge", block=2)

    def go(executor=None):
        client = make_client(llm)
        try:
            return stage.score_version(store, "d@v1", cfg, client=client, judge_cfg=llm, executor=executor)
        finally:
            client.close()

    local, _ = go()
    local_calls = len(stub.requests)
    monkeypatch.setattr(stage, "ScoreWork", CrashOnce)
    crashed, info = go(RayExecutor(llm, workers=2))
    assert marker.exists()  # a worker really died
    assert info["executor"] == "ray" and info["blocks"] == 7
    records = crashed.records()
    assert [r.instruction for r in records] == [r.instruction for r in local.records()]  # none lost, none twice
    assert [r.to_dict() for r in records] == [r.to_dict() for r in local.records()]
    assert len(stub.requests) - local_calls == local_calls  # the dead attempt asked nothing that counted twice
    assert crashed.manifest["usage"] == local.manifest["usage"]


@pytest.mark.model
def test_ifd_on_ray_equals_local(cluster, tmp_path):
    st = DatasetStore(tmp_path / "store")
    recs = [Record(instruction=f"Name a thing made of {t}.", output=f"A {t} cup, bowl or {t} lamp.")
            for t in ("copper", "stone", "glass", "wood", "clay", "iron", "paper", "wax")]
    with st.lock("d"):
        st.publish("d", recs, [], {})
    common = ["score", "d@v1", "--scorer", "ifd", "--store", str(st.root), "--block", "4", "--batch-size", "2"]
    for extra in ([], ["--executor", "ray"]):
        res = CliRunner().invoke(main, common + extra, catch_exceptions=False)
        assert res.exit_code == 0, res.output
    local, on_ray = st.resolve("d@v2"), st.resolve("d@v3")
    same_apart_from_executor(local, on_ray)
    values = [r.meta["scores"]["ifd"]["value"] for r in on_ray.records()]
    assert all(isinstance(v, float) and v > 0 for v in values) and len(set(values)) == len(values)
