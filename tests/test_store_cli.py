"""`datagen datasets list/show/diff` and `datagen export` through the real CLI entry."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore


def make_store(root):
    store = DatasetStore(root)
    a = [Record(instruction="Name three primary colors.", output="Red, blue, yellow.")]
    b = [Record(instruction="解释什么是光合作用。", output="植物利用光能合成有机物。")]
    with store.lock("demo"):
        store.publish("demo", a, [], {"generator": "self-instruct", "model": "m1", "counts": {"added": 1}})
    with store.lock("demo"):
        store.publish("demo", a + b, [{"reason": "too short"}],
                      {"generator": "self-instruct", "model": "m2", "counts": {"added": 1},
                       "funnel": {"candidates": 2, "kept": 1, "dropped": {"too short": 1}}}, parent="v0001")
    return store


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_show_diff(tmp_path):
    make_store(tmp_path)
    out = invoke("datasets", "list", "--store", str(tmp_path)).output
    assert "demo" in out and "v0002" in out and "NAME" in out
    out = invoke("datasets", "show", "demo", "--store", str(tmp_path)).output
    assert "demo@v0002" in out and "parent:     v0001" in out and "2 (1 added)" in out
    assert "too short" in out and "(verified)" in out
    js = json.loads(invoke("datasets", "show", "demo@v1", "--json", "--store", str(tmp_path)).output)
    assert js["version"] == "v0001"
    out = invoke("datasets", "diff", "demo@v1", "demo@v2", "--store", str(tmp_path)).output
    assert "+1 added, -0 removed" in out and "model: 'm1' -> 'm2'" in out and "解释什么是光合作用" in out


def test_export_command(tmp_path):
    make_store(tmp_path / "s")
    out = tmp_path / "lf" / "demo.json"
    res = invoke("export", "demo", "--format", "alpaca", "--out", str(out), "--store", str(tmp_path / "s"))
    assert "wrote 2 records" in res.output
    assert len(json.loads(out.read_text())) == 2
    assert "demo" in json.loads((tmp_path / "lf" / "dataset_info.json").read_text())


def test_unknown_dataset_is_one_line_exit_2(tmp_path):
    make_store(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", "datasets", "show",
                           "nope@v3", "--store", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: no dataset 'nope' in " + str(tmp_path) + " (datasets: demo)"]
