"""Pipelined Self-Instruct rounds bounded by what --num can still use
(datagen/generators/self_instruct/demand.py), counting what the stub server receives:
the default mode costs what strict rounds cost, and every paid task is accounted for."""

import pytest

from stub_server import StubLLMServer
from test_cost import Responder, run
from test_self_instruct import kind


def go(tmp_path, num, strict, **gen_kw):
    with StubLLMServer() as stub:
        stub.default = Responder()
        result = run(stub, tmp_path / ("strict" if strict else "pipelined"), num=num,
                     gen_kw={"strict_rounds": strict, **gen_kw})
        return result, list(stub.requests)


@pytest.mark.parametrize("num", [30, 80])
def test_pipelined_rounds_send_what_strict_rounds_send(tmp_path, num):
    strict, strict_reqs = go(tmp_path, num, True)
    piped, piped_reqs = go(tmp_path, num, False)
    assert strict.report.counts["tasks"] == piped.report.counts["tasks"] == num
    a, b = strict.ledger["total"], piped.ledger["total"]
    assert a["sent"] == len(strict_reqs) and b["sent"] == len(piped_reqs)
    assert len(piped_reqs) <= 1.05 * len(strict_reqs), (len(piped_reqs), len(strict_reqs))
    assert b["tokens"] <= 1.05 * a["tokens"], (b["tokens"], a["tokens"])


def test_every_classified_task_is_kept_rejected_or_surplus(tmp_path):
    result, reqs = go(tmp_path, 40, False)
    accounted = {r.instruction for r in result.kept} | {r["record"]["instruction"] for r in result.rejects}
    clf = [b["messages"][-1]["content"] for b in reqs if kind(b["messages"][-1]["content"]) == "clf"]
    assert clf
    missing = [p[-200:] for p in clf if not any(i and i in p[-400:] for i in accounted)]
    assert not missing, missing[:3]
    # surplus: in rejects with its cost, and in the manifest and the summary
    surplus = [r for r in result.rejects if r["reason"] == "surplus"]
    ledger = result.version.manifest["usage"]["ledger"]
    assert ledger["surplus"]["records"] == len(surplus) > 0  # --num 40 leaves candidates unchecked
    assert ledger["surplus"]["dollars"] > 0
    from datagen.run.runner import format_summary

    assert "surplus:" in format_summary(result)


class Recording(Responder):
    """The Responder, remembering each request with the reply it got."""

    def __init__(self):
        super().__init__()
        self.answered = []

    def __call__(self, body):
        reply = super().__call__(body)
        self.answered.append((body, reply.body["choices"][0]["message"]["content"]))
        return reply


def unaccounted(result, answered) -> dict[str, int]:
    """Requests the server answered that no kept record or reject line holds, by kind: a
    bootstrap reply's candidates, a classification's task, an instance request's task."""
    import re

    from test_self_instruct import last_task

    held = [r.instruction for r in result.kept] + [r["record"]["instruction"] for r in result.rejects]
    held = [h for h in held if h]
    out: dict[str, int] = {}
    for body, reply in answered:
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        k = kind(user)
        if k == "bootstrap":
            ok = all(any(item.strip() in h for h in held) for item in re.findall(r"\d+\. (.+)", reply))
        elif k == "clf":
            ok = any(h in last_task(user) for h in held)
        else:
            ok = any(h in user for h in held)
        if not ok:
            out[k] = out.get(k, 0) + 1
    return out


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "pipelined"])
def test_a_cap_leaves_no_paid_request_unaccounted(tmp_path, strict):
    # a cap that stops a round between its stages (bootstrap and classification paid, its
    # instances refused): that round's tasks are kept, rejected or surplus, never lost
    with StubLLMServer() as stub:
        stub.default = Recording()
        full = run(stub, tmp_path / "full", num=40, gen_kw={"strict_rounds": strict})
        dollars = full.ledger["total"]["dollars"]
        for share in (0.6, 0.8):
            stub.default = answered = Recording()
            before = len(stub.requests)
            capped = run(stub, tmp_path / f"cap{share}", num=40, gen_kw={"strict_rounds": strict},
                         max_cost=dollars * share)
            assert capped.stopped["reason"] == "budget"
            assert capped.ledger["total"]["sent"] == len(stub.requests) - before == len(answered.answered)
            assert unaccounted(capped, answered.answered) == {}, share
            surplus = [r for r in capped.rejects if r["reason"] == "surplus"]
            assert capped.ledger["surplus"]["records"] == len(surplus)
