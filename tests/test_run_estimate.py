"""`--dry-run` estimates (datagen/run/estimate.py) against the runs they estimate, on the stub
server answering with realistic reply lengths (bench/bench_estimate.py's responder, which
runs the whole matrix: five generators at --num 30, 80 and 300). A representative subset:
Self-Instruct (staged) and Self-QA at --num 30, first run and with history."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from stub_server import StubLLMServer  # noqa: E402


@pytest.mark.parametrize("name", ["self-instruct", "self-qa"])
def test_estimate_is_within_30_percent_first_run_and_with_history(name, corpora):
    import bench_estimate

    with StubLLMServer(bench_estimate.respond) as stub:
        row = bench_estimate.one(name, 30, stub)
        for label in ("first_run", "with_history"):
            r = row[label]
            assert r["measured"]["requests"] > 0 and r["kept"] > 0
            for k in ("requests", "tokens", "dollars"):
                assert 0.7 <= r["ratio"][k] <= 1.3, (label, k, r)
        assert row["with_history"]["history"] == ["v0001"]
