"""Self-QA's paid-for work it did not use (datagen/generators/self_qa/unused.py), counting
what the stub server answers: every question request and every answer belongs to a kept
record, a reject with its reason, or a `surplus` line with its tokens, when the run
reaches --num with rounds in flight and when a cap stops it between questions and answers."""

import json
import re

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.store import DatasetStore
from run_lines import run_output
from test_self_qa_rounds import responder, write_docs


def answered_lines(stub, tmp_path, name, *args):
    """Run self-qa; (what the stub answered during it, the lines of the version or attempt)."""
    before = len(stub.requests)
    replies = stub.replies = []
    res = CliRunner().invoke(main, [
        "run", "self-qa", "--docs", str(tmp_path / "docs"), "--base-url", stub.url, "--model", "gpt-4o-mini",
        "--no-embed", "--rouge", "0.8", "--lang", "en", "--chunk-chars", "200", "--overlap", "0", "--batch", "3",
        "--questions", "5", "--max-retries", "0", "--num", "60", "--dataset", "d",
        "--store", str(tmp_path / name), "--cache-path", str(tmp_path / name / "c.sqlite"), *map(str, args)])
    assert res.exit_code == 0, res.output
    assert len(stub.requests) - before == len(replies) > 0
    where, lines = run_output(DatasetStore(str(tmp_path / name)), "d")
    return replies, lines, json.loads((where / "manifest.json").read_text())


def unaccounted(replies, lines) -> list[str]:
    held = [(r.get("record") or r).get("instruction", "") for r in lines]
    out = []
    for prompt, text in replies:
        question = re.search(r"Question: (.+)$", prompt)
        if question and "\n>>>" in prompt.split(question.group(0))[0]:  # an answer request
            asked = [question.group(1)]
        else:  # a question request: each question it wrote
            asked = [re.sub(r"^\d+\. ", "", q).strip() for q in ("1. " + text).splitlines()]
        out += [q for q in asked if q and q not in held]
    return out


@pytest.fixture
def recording(stub, tmp_path):
    write_docs(tmp_path)

    def answer(body):
        text = responder(body)
        stub.replies.append((body["messages"][0]["content"], text))
        return text

    stub.responder = answer
    return stub


def test_every_paid_question_and_answer_is_in_a_line(recording, tmp_path):
    replies, lines, manifest = answered_lines(recording, tmp_path, "full")
    assert not unaccounted(replies, lines)
    surplus = [r for r in lines if r.get("reason") == "surplus"]
    assert surplus, "--num reached with rounds in flight: their answers are surplus"
    ledger = manifest["usage"]["ledger"]
    assert ledger["total"]["sent"] == len(replies)
    assert ledger["surplus"]["records"] == len(surplus) and ledger["surplus"]["dollars"] > 0

    # caps at 30% and 50% of its tokens: rounds go out one at a time until one has said what
    # a round costs, so the cap is spent on answered questions and what completed is published;
    # a round the cap stopped between its questions and answers leaves surplus lines
    full = ledger["total"]["tokens"]
    for share in (0.3, 0.5):
        replies, lines, manifest = answered_lines(recording, tmp_path, f"cap{share}", "--max-total-tokens",
                                                  int(full * share))
        assert manifest["stopped"]["reason"] == "budget" and manifest["counts"]["added"] > 0, share
        assert not unaccounted(replies, lines), share
        spent = manifest["usage"]["ledger"]
        assert spent["total"]["sent"] == len(replies) and spent["total"]["tokens"] <= full * share * 1.05
        assert spent["surplus"]["records"] == sum(r.get("reason") == "surplus" for r in lines)
