"""datagen/store/manage.py through the CLI: `datasets import/head/sample/tag/untag/rm`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore
from datagen.store.manage import remove


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def alpaca_file(tmp_path, n=4):
    path = tmp_path / "mine.json"
    rows = [{"instruction": f"Explain idea {i}.", "input": "", "output": f"Idea {i} is simple."} for i in range(n)]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_import_publishes_a_users_file_as_a_version_with_a_manifest(tmp_path):
    res = run("datasets", "import", alpaca_file(tmp_path), "--dataset", "mine", "--store", tmp_path / "s")
    assert res.exit_code == 0, res.output
    assert "imported 4 records" in res.output and "published mine@v0001" in res.output
    dv = DatasetStore(tmp_path / "s").resolve("mine")
    assert [r.instruction for r in dv.records()][:2] == ["Explain idea 0.", "Explain idea 1."]
    assert dv.manifest["stage"] == "import" and dv.manifest["source"]["path"].endswith("mine.json")
    assert dv.manifest["lang"] == "en" and dv.manifest["counts"]["records"] == 4
    # the imported version goes on like any other: filter by selecting, export
    res = run("export", "mine", "--format", "alpaca", "--out", tmp_path / "exp", "--store", tmp_path / "s")
    assert res.exit_code == 0, res.output
    # a bad file: one line, exit 2, nothing published
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok"}\n{oops\n', encoding="utf-8")
    res = run("datasets", "import", bad, "--dataset", "mine", "--store", tmp_path / "s")
    assert res.exit_code == 2 and "bad.jsonl:2" in res.output
    assert DatasetStore(tmp_path / "s").versions("mine") == ["v0001"]


def test_head_and_sample_show_records_escaped(tmp_path):
    store = DatasetStore(tmp_path / "s")
    recs = [Record(f"Task {i}.", output=f"Answer {i}.") for i in range(10)]
    recs[1] = Record("Evil \x1b[31mred\x1b[0m task.", output="line one\nline two")
    with store.lock("d"):
        store.publish("d", recs, [], {})
    res = run("datasets", "head", "d", "-n", 2, "--store", tmp_path / "s")
    assert res.exit_code == 0, res.output
    assert "d@v0001: 2 of 10 records" in res.output and "Task 0." in res.output
    assert "\x1b" not in res.output and "\\x1b[31m" in res.output and "line one ⏎ line two" in res.output
    assert "Task 2." not in res.output
    a = run("datasets", "sample", "d", "-n", 3, "--seed", 1, "--store", tmp_path / "s").output
    b = run("datasets", "sample", "d", "-n", 3, "--seed", 1, "--store", tmp_path / "s").output
    assert a == b and a.count("#") == 3
    js = run("datasets", "head", "d", "-n", 1, "--json", "--store", tmp_path / "s").output
    assert json.loads(js)["instruction"] == "Task 0."


def test_tag_and_untag(tmp_path):
    store = DatasetStore(tmp_path / "s")
    for i in range(2):
        with store.lock("d"):
            store.publish("d", [Record(f"T{i}")], [], {})
    assert run("datasets", "tag", "d@v1", "good", "--store", tmp_path / "s").exit_code == 0
    assert store.resolve("d@good").version == "v0001"
    assert run("datasets", "tag", "d@v2", "good", "--store", tmp_path / "s").exit_code == 0  # moves
    assert store.resolve("d@good").version == "v0002"
    res = run("datasets", "untag", "d", "good", "--store", tmp_path / "s")
    assert res.exit_code == 0 and "was v0002" in res.output and store.tags("d") == {}
    res = run("datasets", "untag", "d", "good", "--store", tmp_path / "s")
    assert res.exit_code == 2 and "no tag 'good'" in res.output
    assert run("datasets", "tag", "d", "v3", "--store", tmp_path / "s").exit_code == 2


def test_rm_refuses_what_a_tag_or_a_later_version_needs_unless_forced(tmp_path):
    store = DatasetStore(tmp_path / "s")
    with store.lock("d"):
        store.publish("d", [Record("a")], [], {})
    with store.lock("d"):
        store.publish("d", [Record("a"), Record("b")], [], {}, parent="v0001")
    with store.lock("d"):
        store.publish("d", [Record("c")], [], {})  # no parent: nothing needs v2 but a tag
    store.set_tag("d", "good", "v0002")
    res = run("datasets", "rm", "d@v1", "--store", tmp_path / "s")
    assert res.exit_code == 2 and "d@v0002 (its parent)" in res.output
    res = run("datasets", "rm", "d@v2", "--store", tmp_path / "s")
    assert res.exit_code == 2 and "tag good" in res.output and "--force" in res.output
    assert store.versions("d") == ["v0001", "v0002", "v0003"]
    res = run("datasets", "rm", "d@v3", "--store", tmp_path / "s")
    assert res.exit_code == 0 and "removed d@v0003" in res.output
    assert store.versions("d") == ["v0001", "v0002"]
    assert store.next_version("d") == "v0004"  # a removed number is never reused
    res = run("datasets", "rm", "d@v2", "--force", "--store", tmp_path / "s")
    assert res.exit_code == 0 and store.tags("d") == {} and store.versions("d") == ["v0001"]
    assert not [p for p in (tmp_path / "s" / "d").iterdir() if p.name.startswith(".tmp")]


def test_rm_is_all_or_nothing(tmp_path, monkeypatch):
    """A failure while deleting leaves no half version visible: the folder left the
    versions before anything in it was deleted."""
    import shutil

    store = DatasetStore(tmp_path / "s")
    for i in range(2):
        with store.lock("d"):
            store.publish("d", [Record(f"T{i}")], [], {})

    def boom(path, *a, **k):
        raise OSError("disk gone")
    monkeypatch.setattr(shutil, "rmtree", boom)
    with pytest.raises(OSError):
        remove(store, "d@v2")
    assert store.versions("d") == ["v0001"] and store.resolve("d").version == "v0001"
    monkeypatch.undo()
    with store.lock("d"):
        assert store.clean_temp("d") == 1  # the next writer sweeps the hidden rest
