"""`datagen prefs` (datagen/prefs/stage.py) against the stub server on 127.0.0.1: two
responder models and a judge, all answered by the stub according to the request's model."""

import json
import re

from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore
from stub_server import StubLLMServer

TASKS = ["Explain why the sky is blue.", "Give a tip for learning a new language.",
         "Describe how a bicycle stays upright.", "Suggest a name for a friendly robot."]


def answers(body):
    """strong/weak responders; a judge that prefers the STRONG answer (or, as 'biased',
    always the first one shown)."""
    model, n = body["model"], body.get("n", 1)
    user = body["messages"][-1]["content"]
    if model == "strong":
        return [f"STRONG answer {k}: a full, careful reply to '{user[:20]}'." for k in range(n)]
    if model == "weak":
        return [f"meh {k}" for k in range(n)]
    if model == "biased":
        return "A is shown first.\nVerdict: A"
    a = re.search(r"Answer A:\n(.*?)\n\nAnswer B:", user, re.S).group(1)
    b = re.search(r"Answer B:\n(.*?)\n\nGive", user, re.S).group(1)
    if ("STRONG" in a) == ("STRONG" in b):
        return "Both are alike.\nVerdict: tie"
    return f"{'A' if 'STRONG' in a else 'B'} is complete and careful.\nVerdict: {'A' if 'STRONG' in a else 'B'}"


def source(tmp_path) -> str:
    store = DatasetStore(tmp_path / "store")
    with store.lock("demo"):
        store.publish("demo", [Record(instruction=t, output="A reference answer.", meta={"lang": "en"})
                               for t in TASKS], [], {"generator": "self-instruct"})
    return str(tmp_path / "store")


def prefs(stub, store, *extra):
    args = ["prefs", "demo", "--store", store, "--backend", "openai", "--base-url", stub.url,
            "--max-retries", "0", "--no-cache", *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_pairs_choose_the_model_the_judge_prefers(tmp_path):
    store = source(tmp_path)
    with StubLLMServer(answers) as stub:
        res = prefs(stub, store, "--responses", "4", "--model", "strong", "--model", "weak", "--judge-model", "judge")
    assert res.exit_code == 0, res.output
    assert "4 pairs from 4 instructions" in res.output and "demo-prefs@v0001" in res.output
    v = DatasetStore(store).resolve("demo-prefs")
    rows = [json.loads(line) for line in v.data_path.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["chosen"].startswith("STRONG") and row["rejected"].startswith("meh")
        assert row["prompt"] in TASKS and row["output"] == row["chosen"]
        m = row["meta"]
        assert (m["chosen_model"], m["rejected_model"]) == ("strong", "weak")
        assert m["margin"] >= 0.5 and m["pair_scores"]["chosen"] > m["pair_scores"]["rejected"]
        assert m["judge"]["reasons"] and m["judge"]["verdicts"] in (["A", "B"], ["B", "A"])
        assert m["source_record"]["ref"] == "demo@v0001" and m["source"] == "machine"
    man = v.manifest
    assert man["stage"] == "prefs" and man["funnel"] == {"candidates": 4, "kept": 4, "dropped": {}}
    stages = {r["stage"]: r for r in man["usage"]["ledger"]["stages"]}
    # 2 responders x 4 instructions, and 6 pairs x 2 orders x 4 instructions for the judge
    assert set(stages) == {"prefs responses", "prefs judge"}
    assert sum(r["requests"] for r in man["usage"]["ledger"]["stages"] if r["stage"] == "prefs responses") == 8
    assert stages["prefs judge"]["requests"] == 48 and stages["prefs judge"]["model"] == "judge"
    assert man["usage"]["ledger"]["total"]["requests"] == 8 + 48
    # reported like any other version
    rep = CliRunner().invoke(main, ["report", "demo-prefs", "--store", store, "--out", str(tmp_path / "rep"),
                                    "--quiet"], catch_exceptions=False)
    assert rep.exit_code == 0, rep.output
    stats = json.loads((tmp_path / "rep" / "stats.json").read_text())
    assert (tmp_path / "rep" / "report.html").is_file() and stats


def test_an_inconsistent_judge_gives_rejects_with_their_reason(tmp_path):
    store = source(tmp_path)
    with StubLLMServer(answers) as stub:
        res = prefs(stub, store, "--responses", "2", "--model", "strong", "--model", "weak", "--judge-model", "biased")
    assert res.exit_code == 0, res.output
    assert "0 pairs" in res.output and "4 inconsistent" in res.output
    v = DatasetStore(store).resolve("demo-prefs")
    rej = v.rejects()
    assert [r["reason"] for r in rej] == ["inconsistent"] * 4
    assert rej[0]["detail"]["judged"][0]["verdicts"] == ["A", "A"]


def test_ties_and_low_margins_are_rejected(tmp_path):
    store = source(tmp_path)
    with StubLLMServer(answers) as stub:  # two strong responses: the judge calls it a tie
        res = prefs(stub, store, "--responses", "2", "--model", "strong", "--judge-model", "judge", "--limit", "2")
    assert res.exit_code == 0, res.output
    assert [r["reason"] for r in DatasetStore(store).resolve("demo-prefs").rejects()] == ["tie", "tie"]


def test_pairs_never_go_into_the_source_dataset(tmp_path):
    store = source(tmp_path)
    with StubLLMServer(answers) as stub:
        res = prefs(stub, store, "--into", "demo")
    assert res.exit_code == 2 and "is the source dataset" in res.output and len(stub.requests) == 0


def test_a_conversation_is_paired_on_its_last_turn_in_its_context(tmp_path):
    store = DatasetStore(tmp_path / "store")
    convo = [{"role": "system", "content": "You are a patient tutor."},
             {"role": "user", "content": "What is a prime number?"},
             {"role": "assistant", "content": "A number with exactly two divisors."},
             {"role": "user", "content": "Is 9 one?"},
             {"role": "assistant", "content": "No: 3 divides it."}]
    with store.lock("demo"):
        store.publish("demo", [Record(instruction="What is a prime number?", output="No: 3 divides it.",
                                      messages=convo, meta={"lang": "en"})], [], {"generator": "magpie"})
    with StubLLMServer(answers) as stub:
        res = prefs(stub, str(tmp_path / "store"), "--responses", "2", "--model", "strong", "--model", "weak",
                    "--judge-model", "judge")
        sent = list(stub.requests)
    assert res.exit_code == 0, res.output
    asked = [b for b in sent if b["model"] in ("strong", "weak")]
    assert asked and all(b["messages"] == convo[:-1] for b in asked)  # the context, up to the last user turn
    judged = [b["messages"][-1]["content"] for b in sent if b["model"] == "judge"]
    assert judged and all("Instruction:\nIs 9 one?" in j and "User: What is a prime number?" in j
                          and "Assistant: A number with exactly two divisors." in j
                          and "Reference answer:\nNo: 3 divides it." in j for j in judged)
    [pair] = DatasetStore(tmp_path / "store").resolve("demo-prefs").records()
    assert pair.extra["prompt"] == "Is 9 one?" and pair.extra["system"] == "You are a patient tutor."
    assert pair.extra["history"] == [["What is a prime number?", "A number with exactly two divisors."]]
    assert pair.extra["chosen"].startswith("STRONG") and pair.extra["rejected"].startswith("meh")
    assert pair.messages == convo[:-1] + [{"role": "assistant", "content": pair.extra["chosen"]}]
    assert pair.output == "A number with exactly two divisors."  # the flat fields: the first exchange
