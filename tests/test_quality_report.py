"""The report's quality section: histogram with threshold, kept/dropped, extremes, Spearman."""

from __future__ import annotations

import json

import pytest

from datagen.quality.select import SelectConfig
from datagen.quality.stage import select_version
from datagen.records import Record
from datagen.report import ReportOptions, load_version, write_report
from datagen.report.quality import rankdata, spearman
from datagen.store import DatasetStore


def test_rankdata_and_spearman_by_hand():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) without ties: d = (0, 1, -1, 0, 0) -> 1 - 12/120
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1, 2], [2, 1]) is None


def test_report_has_the_quality_section(tmp_path):
    store = DatasetStore(tmp_path / "s")
    judge = [5, 4, 1, 3, 5, 2]
    ifd = [0.9, 0.8, 0.2, 0.5, 0.95, 0.3]  # ranks agree with the judge's up to ties
    recs = [Record(instruction=f"Task number {i} asks for something.", output=f"Answer {i}.",
                   meta={"scores": {"judge": {"value": j, "reason": f"why {i}"}, "ifd": {"value": f}}})
            for i, (j, f) in enumerate(zip(judge, ifd))]
    with store.lock("d"):
        store.publish("d", recs, [], {"generator": "self-instruct"})
    select_version(store, "d", SelectConfig(by="judge", min=3))
    out = write_report([load_version("d", tmp_path / "s")], tmp_path / "rep", ReportOptions(rouge_sample=None))
    st = json.loads(out["stats"].read_text())
    q = st["quality"]
    j = q["scorers"]["judge"]
    assert j["n"] == 6 and j["kept"] == 4 and j["dropped"] == 2 and j["threshold"] == {"min": 3}
    assert sum(j["kept_counts"]) == 4 and sum(j["dropped_counts"]) == 2
    assert [s["value"] for s in j["lowest"]] == [1, 2, 3] and j["lowest"][0]["reason"] == "why 2"
    assert [s["value"] for s in j["highest"]][:2] == [5, 5]
    assert q["scorers"]["ifd"]["threshold"] == {}
    (agree,) = q["agreement"]
    assert agree["a"] == "ifd" and agree["b"] == "judge" and agree["n"] == 6
    assert agree["spearman"] == pytest.approx(spearman(ifd, judge), abs=1e-4) and agree["spearman"] > 0.9
    html = out["html"].read_text()
    assert "Quality scores" in html and "Spearman" in html
    assert any(p.name == "quality.png" for p in out["images"])


def test_report_without_scores_has_no_quality_section(tmp_path):
    store = DatasetStore(tmp_path / "s")
    with store.lock("d"):
        store.publish("d", [Record(instruction=f"Plain task {i} here.", output="x") for i in range(3)], [], {})
    out = write_report([load_version("d", tmp_path / "s")], tmp_path / "rep", ReportOptions(rouge_sample=None))
    assert json.loads(out["stats"].read_text())["quality"] is None
    assert "Quality scores" not in out["html"].read_text()
