"""`datagen report`: files written, numbers in stats.json, HTML escaping, compare, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore

PNG = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script>'


def _records(lang: str, n: int) -> list[Record]:
    out = [Record(instruction="Write a poem about cats." if lang == "en" else "写一首关于猫的诗。",
                  output="seed", meta={"source": "seed", "task_type": "generation"})]
    for i in range(n):
        if lang == "en":
            ins = f"{['Write', 'Explain', 'Classify'][i % 3]} item {i} about topic {i % 5}."
            out_text = f"answer {i} " + EVIL if i == 0 else f"answer {i}"
        else:
            ins = f"{['写', '解释', '判断'][i % 3]}第{i}个关于主题{i % 5}的问题。"
            out_text = f"回答{i}" + (EVIL if i == 0 else "")
        out.append(Record(instruction=ins, input="" if i % 2 else f"input {i}", output=out_text,
                          meta={"task_type": "classification" if i % 3 == 2 else "generation"}))
    return out


def _manifest(kept: int) -> dict:
    return {"generator": "self-instruct", "backend": "openai", "model": "stub",
            "funnel": {"candidates": kept + 3, "kept": kept, "dropped": {"rouge_similar": 2, "too_short": 1}},
            "usage": {"requests": 5, "cached": 1, "prompt_tokens": 400, "completion_tokens": 100}}


@pytest.fixture
def store(tmp_path):
    st = DatasetStore(tmp_path / "store")
    rejects = [{"reason": "rouge_similar", "filter": "rouge", "stage": "instruction",
                "record": {"instruction": EVIL}}]
    for name, lang in (("en", "en"), ("zh", "zh")):
        with st.lock(name):
            v1 = st.publish(name, _records(lang, 6), rejects, _manifest(7))
            st.publish(name, _records(lang, 12), rejects, _manifest(13), parent=v1.version)
    return st.root


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return res


@pytest.mark.parametrize("name", ["en", "zh"])
def test_report_writes_html_stats_and_pictures(store, tmp_path, name):
    out = tmp_path / "rep"
    res = run("report", name, "--store", store, "--out", out, *(["--quiet"] if name == "zh" else []))
    assert res.exit_code == 0, res.output
    if name == "en":  # progress: one line per stage
        assert "ROUGE-L" in res.output and "report: plots" in res.output
    st = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert st["dataset"]["label"] == f"{name}@v0002" and st["dataset"]["lang"] == name
    c = st["counts"]
    assert (c["records"], c["distinct_instructions"], c["seed_tasks"]) == (13, 13, 1)
    assert c["classification_share"] == pytest.approx(4 / 13, abs=1e-4)  # i = 2, 5, 8, 11
    assert c["empty_input"] == 7  # the seed and the six odd i
    assert [r["version"] for r in st["runs"]["runs"]] == ["v0002", "v0001"]
    assert st["runs"]["usage_total"]["requests"] == 10
    assert st["rouge"]["seed"]["compared"] == 12 and st["rouge"]["nearest"]["compared"] == 12
    for png in ("lengths.png", "rouge.png", "verbs.png", "funnel.png"):
        assert (out / png).read_bytes()[:8] == PNG
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4  # self-contained
    assert EVIL not in html and "&lt;script&gt;" in html  # records are escaped
    assert "52,445" in html and "Self-Instruct" in html


def test_compare_two_versions_side_by_side(store, tmp_path):
    out = tmp_path / "cmp"
    res = run("report", "--compare", "en@v1", "en@v2", "--store", store, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    st = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert [s["counts"]["records"] for s in st["compare"]] == [7, 13]
    assert (out / "verbs-1.png").exists() and (out / "verbs-2.png").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "en@v0001" in html and "en@v0002" in html


def test_report_on_plain_jsonl_with_seed_file(tmp_path):
    from datagen.io import write_jsonl

    data = tmp_path / "d.jsonl"
    write_jsonl(data, _records("en", 4)[1:])
    # `datagen run --out d.jsonl` writes its rejects beside it
    write_jsonl(tmp_path / "d.rejects.jsonl", [{"reason": "too_long", "stage": "instruction", "record": {}}])
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Write item 0 about topic 0.\nSomething else entirely\n", encoding="utf-8")
    out = tmp_path / "rep"
    res = run("report", "--data", data, "--seeds", seeds, "--out", out, "--quiet", "--samples", "2")
    assert res.exit_code == 0, res.output
    st = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert st["counts"]["seed_tasks"] == 2
    assert st["rouge"]["seed"]["compared"] == 3  # the seed's own instruction is not compared
    assert st["runs"]["runs"] == [] and st["runs"]["funnel"] == {"dropped": {"too_long": 1}}


@pytest.mark.parametrize("args, needle", [
    (["report", "nope"], "no dataset 'nope'"),
    (["report", "en@v9"], "no version v0009"),
    (["report"], "say what to report on"),
])
def test_bad_input_is_one_line_exit_2(store, tmp_path, args, needle):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", *args, "--store", str(store), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_chinese_report_renders_without_a_cjk_font(monkeypatch, tmp_path):
    from datagen.report import ReportInput, ReportOptions, plots, write_report

    monkeypatch.setattr(plots, "CJK_FONTS", ("No Such Font",))
    inp = ReportInput(label="zh-file", records=_records("zh", 4))
    paths = write_report([inp], tmp_path / "r", ReportOptions(samples=2))
    assert all(p.read_bytes()[:8] == PNG for p in paths["images"])
    assert "No CJK font was found" in paths["html"].read_text(encoding="utf-8")


def test_seed_file_recorded_in_the_manifest_is_used(tmp_path):
    from datagen.report import compute_stats, load_version
    from datagen.store import file_sha256

    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Write item 0 about topic 0.\nAnother seed task\n", encoding="utf-8")
    st = DatasetStore(tmp_path / "s")
    recs = [r for r in _records("en", 4) if r.meta.get("source") != "seed"]
    with st.lock("si"):
        st.publish("si", recs, [], {**_manifest(4), "inputs": {str(seeds): file_sha256(seeds)}})
    stats = compute_stats(load_version("si", st.root))
    # item 0 is itself a seed, so only the other three are compared with the seeds
    assert stats["counts"]["seed_tasks"] == 2 and stats["rouge"]["seed"]["compared"] == 3


def test_out_defaults_to_report_name(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run("report", "en", "--store", store, "--quiet", "--samples", "2")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "en" / "report.html").is_file()
    assert "report/en/report.html" in res.output
