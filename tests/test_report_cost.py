"""The report shows the run's ledger: a table and a bar chart by stage."""

import json

from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore

LEDGER = {"currency": "USD", "price": {"input_per_1m": 0.15, "output_per_1m": 0.6, "batch_discount": 0.5,
                                       "source": "https://openai.com/api/pricing/", "as_of": "2025-06"},
          "stages": [{"stage": "instructions", "model": "gpt-4o-mini", "endpoint": "api.openai.com/v1", "mode": "online",
                      "requests": 4, "cached": 2, "retries": 0, "prompt_tokens": 4000, "completion_tokens": 1000,
                      "dollars": 0.0012},
                     {"stage": "answers", "model": "gpt-4o-mini", "endpoint": "api.openai.com/v1", "mode": "batch",
                      "requests": 10, "cached": 0, "retries": 1, "prompt_tokens": 2000, "completion_tokens": 3000,
                      "dollars": 0.00105}],
          "total": {"requests": 14, "cached": 2, "prompt_tokens": 6000, "completion_tokens": 4000, "tokens": 10000,
                    "dollars": 0.00225}}


def test_report_has_a_cost_table_and_chart(tmp_path):
    st = DatasetStore(tmp_path / "store")
    recs = [Record(instruction=f"Explain topic {i} in detail.", output=f"answer {i}") for i in range(8)]
    manifest = {"generator": "self-instruct", "backend": "openai", "model": "gpt-4o-mini",
                "funnel": {"candidates": 9, "kept": 8, "dropped": {"too_short": 1}},
                "usage": {"requests": 14, "cached": 2, "prompt_tokens": 6000, "completion_tokens": 4000,
                          "ledger": LEDGER},
                "stopped": {"reason": "budget", "detail": "token budget: 10000 spent would pass 12000"}}
    with st.lock("d"):
        st.publish("d", recs, [], manifest)
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["report", "d", "--store", str(st.root), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    by = {r["stage"]: r for r in stats["cost"]["stages"]}
    assert by["answers"]["mode"] == "batch" and by["instructions"]["cached"] == 2
    assert (out / "cost.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "report.html").read_text()
    assert "$0.0012" in html and f"${0.00225:.4f}" in html and "answers (batch)" in html
    assert "stopped early: token budget" in html and "as of 2025-06" in html


def test_a_ledger_without_a_price_has_no_price_line():
    from datagen.report.cost import cost_stats

    ledger = {k: v for k, v in LEDGER.items() if k != "price"}
    st = cost_stats({"usage": {"ledger": ledger}})
    assert st["price"] is None and st["total"]["dollars"] == 0.00225
