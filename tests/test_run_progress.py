"""Progress while a run runs: plain lines to stderr off a terminal, one overall bar on one."""

import io
import re
from pathlib import Path

from click.testing import CliRunner

from datagen.cli import main
from datagen.filters.base import Verdict
from datagen.generators.base import Outcome
from datagen.llm.base import Usage
from datagen.records import Record
from datagen.run.progress import RunProgress, format_duration, interval_from_env

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^progress: kept \d+/\d+ (records|tasks( \(\d+ records\))?), \d+ requests( \(\d+ cached\))?, "
                  r"\d+\.\d req/s, \d+(s|m\d\ds)$")


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def used(requests=0, cached=0):
    """A Usage that has recorded `requests` calls and `cached` cache hits."""
    usage = Usage()
    record(usage, requests, cached)
    return usage


def record(usage, requests=0, cached=0):
    for _ in range(requests):
        usage.add([])
    for _ in range(cached):
        usage.add([], cached=True)


def outcome(kept=True, task=None):
    return Outcome(Record(instruction="x", meta={"task_id": task} if task else {}), Verdict(kept))


def test_a_run_off_a_terminal_writes_progress_lines_to_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_PROGRESS_SECONDS", "0")
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                    "--mode", "template", "--num", "5", "--out", str(tmp_path / "kg.jsonl")])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("progress:")]
    assert lines, res.stderr
    assert all(LINE.match(ln) for ln in lines), lines
    assert lines[-1].startswith("progress: kept 5/5 records")
    assert "progress:" not in res.stdout  # the data and summary stay clean


def test_lines_come_every_interval_and_count_tasks_and_requests():
    clock, out, usage = Clock(), io.StringIO(), Usage()
    p = RunProgress(3, usage, stream=out, tty=False, interval=30, clock=clock)
    p.update(outcome(task="t1"))
    assert out.getvalue() == ""  # not yet 30 s
    record(usage, 120, 4)
    clock.t = 31.0
    p.update(outcome(task="t1"))
    p.update(outcome(kept=False))
    clock.t = 75.0
    p.update(outcome(task="t2"))
    lines = out.getvalue().splitlines()
    assert lines == [
        "progress: kept 1/3 tasks (2 records), 120 requests + 4 cached, 3.9 req/s, 31s",
        "progress: kept 2/3 tasks (3 records), 120 requests + 4 cached, 1.6 req/s, 1m15s",
    ]


def test_a_task_counting_run_says_tasks_before_the_first_is_kept():
    clock, out = Clock(), io.StringIO()
    p = RunProgress(10, Usage(), stream=out, tty=False, interval=30, clock=clock, unit="tasks")
    assert p.line().startswith("progress: kept 0/10 tasks (0 records), 0 requests")
    assert RunProgress(10, Usage(), stream=out, tty=False, clock=clock).line().startswith("progress: kept 0/10 records,")


def test_the_ticker_writes_while_the_runner_is_blocked():
    import threading

    clock, out = Clock(), io.StringIO()
    p = RunProgress(10, Usage(), stream=out, tty=False, interval=0.01, clock=clock).start()
    try:
        clock.t = 5.0  # no outcome arrives: a long batch of requests
        done = threading.Event()
        for _ in range(200):
            if out.getvalue():
                done.set()
                break
            threading.Event().wait(0.01)
        assert done.is_set()
    finally:
        p.close()
    assert out.getvalue().startswith("progress: kept 0/10 records, 0 requests")


def test_on_a_terminal_one_overall_bar():
    out = io.StringIO()
    p = RunProgress(4, used(7), stream=out, tty=True, interval=0, redraw=0)
    for o in p.follow([outcome(), outcome(kept=False), outcome()]):
        pass
    drawn = out.getvalue()
    assert "kept" in drawn and "2/4" in drawn and "7 req" in drawn
    assert "progress:" not in drawn  # the bar, not log lines


def test_interval_from_env(monkeypatch):
    monkeypatch.delenv("DATAGEN_PROGRESS_SECONDS", raising=False)
    assert interval_from_env() == 30.0
    for raw, want in (("0", 0.0), ("5", 5.0), ("off", None), ("-1", None), ("junk", 30.0)):
        monkeypatch.setenv("DATAGEN_PROGRESS_SECONDS", raw)
        assert interval_from_env() == want


def test_format_duration():
    assert [format_duration(s) for s in (0, 59, 130, 3700)] == ["0s", "59s", "2m10s", "1h01m"]
