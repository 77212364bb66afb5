"""Every drop reason is one snake_case word (issue #18.4): read off the code, and off a run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from test_store import run_once
from test_store_fakes import FakeConfig, FakeGenerator, responder

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PKG = Path(__file__).resolve().parent.parent / "datagen"


def _strings(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def reasons_in_code() -> dict[str, str]:
    """{reason: where} for every literal the code drops a record with: what a filter's
    check returns, `reason = "..."`, Verdict(False, "...") and reject/_drop arguments."""
    found: dict[str, str] = {}
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            hits: list[str] = []
            if isinstance(node, ast.FunctionDef) and node.name in ("check", "check_many"):
                hits = [s for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None
                        for s in _strings(r.value)]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "reason" for t in targets) and node.value is not None:
                    hits = _strings(node.value)
            elif isinstance(node, ast.Call):
                fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                args = node.args
                if fn == "Verdict" and len(args) >= 2 and isinstance(args[0], ast.Constant) and args[0].value is False:
                    hits = _strings(args[1])
                elif fn == "reject" and len(args) >= 2:
                    hits = _strings(args[1])
                elif fn == "_drop" and len(args) >= 3:
                    hits = _strings(args[2])
            for s in hits:
                found.setdefault(s, f"{path.relative_to(PKG.parent)}:{node.lineno}")
    return found


def test_every_reason_in_the_code_is_snake_case():
    found = reasons_in_code()
    # the walk sees filters, generators and the publisher alike
    assert {"parent_duplicate", "exact_duplicate", "rouge_dup", "empty_output", "duplicate_instance",
            "no_labels", "wrong_lang", "answer_not_grounded"} <= set(found)
    bad = {s: where for s, where in found.items() if not SNAKE.match(s)}
    assert not bad, f"reasons not in snake_case: {bad}"


def test_reasons_of_a_refresh_run_are_snake_case(tmp_path, stub):
    stub.default = responder
    first = run_once(stub, tmp_path, num=4, gen=FakeGenerator(FakeConfig(repeat_every=3)))
    second = run_once(stub, tmp_path, num=3, gen=FakeGenerator(FakeConfig(repeat_every=3)))
    reasons = {r["reason"] for r in first.rejects + second.rejects}
    assert "parent_duplicate" in reasons
    assert all(SNAKE.match(r) for r in reasons), reasons
    funnel = second.version.manifest["funnel"]["dropped"]
    assert all(SNAKE.match(r) for r in funnel), funnel
