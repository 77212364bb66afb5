"""datagen/studio/server.py: `datagen studio` takes its port before it prints a URL, and
a port it cannot have is one line and exit 2, not a uvicorn log line and exit 3."""

import os
import socket
import subprocess
import sys

import pytest

pytest.importorskip("uvicorn")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def studio(*args):
    return subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", "studio", *args],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": ROOT})


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = studio("--store", str(tmp_path / "store"), "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: --port: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "http://" not in proc.stdout  # no URL printed for a server that never started


def test_an_unknown_host_is_one_line_and_exit_2(tmp_path):
    proc = studio("--store", str(tmp_path / "store"), "--host", "no-such-host.invalid", "--port", "8765")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host: cannot listen on no-such-host.invalid:8765: "), lines
