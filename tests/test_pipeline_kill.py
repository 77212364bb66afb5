"""A pipeline run SIGKILLed mid-generation, started again: one complete version, and no
call repeated for work the killed run had already been answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from stub_server import Reply, chat_body
from test_pipeline import docs, qa_responder, write_pipeline  # noqa: F401 - docs is a fixture

from datagen.store import DatasetStore

CLI = [sys.executable, "-c", "from datagen.cli import main; main()"]


def test_sigkill_then_rerun_publishes_once_without_repaying(tmp_path, stub, docs):  # noqa: F811
    slow = {"on": True}

    def responder(body):
        return Reply(body=chat_body(qa_responder(body)), delay=0.2 if slow["on"] else 0.0)

    stub.responder = responder
    # concurrency 1: at most one request is in flight when the kill lands
    path = write_pipeline(tmp_path, stub, docs, num=8, concurrency=1)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*CLI, "run", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(stub.requests) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    before = [json.dumps(b, sort_keys=True) for b in stub.requests]
    store = DatasetStore(tmp_path / "store")
    assert store.versions("qa") == []  # nothing visible from the killed run

    slow["on"] = False
    done = subprocess.run([*CLI, "run", str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert store.versions("qa") == ["v0001"] and store.verify("qa")
    v1 = store.resolve("qa")
    assert v1.manifest["counts"]["added"] == 8 == len(v1.records())
    after = [json.dumps(b, sort_keys=True) for b in stub.requests[len(before):]]
    repeated = set(before) & set(after)
    assert len(repeated) <= 1  # only the call in flight when the kill landed
    assert v1.manifest["usage"]["cached"] >= len(before) - 1
    assert not [p for p in (tmp_path / "store" / "qa").iterdir() if p.name.startswith(".tmp-")]
