"""Runs started from the studio: the same `datagen run` the CLI is, in a child process.

A run started here is `datagen run PIPELINE.yaml` or `datagen run GENERATOR ARGS…` with the
studio's `--store`, so it goes through the same job code, the store's lock and the
response cache as one typed in a terminal (and a crash or a Ctrl-C in it never takes the
studio down). Its progress is the CLI's own: plain progress lines (DATAGEN_PROGRESS_SECONDS)
and the summary, read line by line from its output and streamed to the page as
server-sent events. Cancel sends SIGINT, as Ctrl-C would (the CLI then says whether it
had already published), and SIGKILL if it has not stopped a while later. The version it
published is read from the summary's `published NAME@vNNNN` note.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..secrets import redact
from ..store import DatasetStore
from .refs import BadRequest, NotFound

MAX_LINES = 2000
KILL_AFTER = 15.0  # seconds between SIGINT and SIGKILL on cancel
PUBLISHED_RE = re.compile(r"published ([A-Za-z0-9][A-Za-z0-9._-]*@v\d{4,})")
GENERATOR_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
# flags a run from the studio may not set: the studio's store is the one it writes
FORBIDDEN = ("--store",)


@dataclass
class Job:
    id: str
    kind: str  # pipeline | generator
    title: str
    argv: list[str]
    state: str = "running"  # running | succeeded | failed | cancelled
    started: float = field(default_factory=time.time)
    ended: float | None = None
    returncode: int | None = None
    lines: list[str] = field(default_factory=list)
    dropped: int = 0  # lines dropped from the front past MAX_LINES
    published: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    cancelled: bool = False

    def view(self, since: int = 0) -> dict[str, Any]:
        start = max(0, since - self.dropped)
        return {"id": self.id, "kind": self.kind, "title": self.title, "state": self.state,
                "started": self.started, "ended": self.ended, "returncode": self.returncode,
                "published": list(self.published), "next": self.dropped + len(self.lines),
                "lines": self.lines[start:]}


def _cli_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from datagen.cli import main; sys.argv[0] = 'datagen'; main()", *args]


class JobManager:
    """Start, follow and cancel runs; jobs live as long as the studio process."""

    def __init__(self, store: DatasetStore, cwd: str | Path | None = None):
        self.store = store
        self.cwd = Path(cwd or os.getcwd())
        self.jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- starting -------------------------------------------------------------------------
    def argv_for(self, body: dict[str, Any]) -> tuple[str, str, list[str]]:
        """(kind, title, datagen argv) for a start request: {kind: pipeline, path} or
        {kind: generator, generator, args}. The store is always the studio's."""
        from ..generators import REGISTRY

        kind = body.get("kind")
        store = ["--store", str(self.store.root.resolve())]
        if kind == "pipeline":
            path = Path(str(body.get("path") or ""))
            path = path if path.is_absolute() else self.cwd / path
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                raise BadRequest(f"pipeline: no such .yaml file: {body.get('path')!r}")
            extra = self._args(body.get("args"))
            return kind, f"pipeline {path.name}", ["run", str(path), *store, *extra]
        if kind == "generator":
            gen = str(body.get("generator") or "")
            if not GENERATOR_RE.match(gen) or gen not in REGISTRY:
                raise BadRequest(f"generator: one of {', '.join(sorted(REGISTRY))}")
            extra = self._args(body.get("args"))
            return kind, f"{gen} {' '.join(extra)}".strip(), ["run", gen, *extra, *store]
        raise BadRequest("kind: pipeline or generator")

    @staticmethod
    def _args(raw) -> list[str]:
        if raw in (None, ""):
            return []
        try:
            args = shlex.split(str(raw)) if isinstance(raw, str) else [str(a) for a in raw]
        except ValueError as e:
            raise BadRequest(f"args: {e}") from None
        if any(a.split("=", 1)[0] in FORBIDDEN for a in args):
            raise BadRequest("args: --store is the studio's own")
        return args

    def start(self, body: dict[str, Any]) -> Job:
        kind, title, args = self.argv_for(body)
        env = dict(os.environ)
        env.setdefault("DATAGEN_PROGRESS_SECONDS", "2")
        env["PYTHONUNBUFFERED"] = "1"
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with self._lock:
            job = Job(id=f"r{next(self._ids)}", kind=kind, title=title, argv=["datagen", *args])
            job.proc = subprocess.Popen(_cli_argv(args), cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                        encoding="utf-8", errors="replace", bufsize=1, start_new_session=True)
            self.jobs[job.id] = job
        threading.Thread(target=self._follow, args=(job,), name=f"studio-{job.id}", daemon=True).start()
        return job

    def _follow(self, job: Job) -> None:
        assert job.proc is not None and job.proc.stdout is not None
        for raw in job.proc.stdout:
            # tqdm redraws end in \r: keep the last state of such a line
            line = redact(raw.rstrip("\n").split("\r")[-1]).rstrip()
            if not line:
                continue
            with self._lock:
                job.lines.append(line)
                if len(job.lines) > MAX_LINES:
                    del job.lines[0]
                    job.dropped += 1
                job.published.extend(m for m in PUBLISHED_RE.findall(line) if m not in job.published)
        rc = job.proc.wait()
        with self._lock:
            job.returncode, job.ended = rc, time.time()
            job.state = "cancelled" if job.cancelled else ("succeeded" if rc == 0 else "failed")

    # -- following ------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no run {job_id[:20]!r}")
        return job

    def view(self, job_id: str, since: int = 0) -> dict[str, Any]:
        with self._lock:
            return self.get(job_id).view(since)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{k: v for k, v in j.view(len(j.lines) + j.dropped).items() if k != "lines"}
                    for j in sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)]

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job.state != "running" or job.proc is None:
            return self.view(job_id)
        job.cancelled = True
        try:
            os.killpg(job.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        killer = threading.Timer(KILL_AFTER, self._kill, args=(job,))
        killer.daemon = True
        killer.start()
        return self.view(job_id)

    @staticmethod
    def _kill(job: Job) -> None:
        if job.proc is not None and job.proc.poll() is None:
            try:
                os.killpg(job.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def shutdown(self) -> None:
        for job in self.jobs.values():
            if job.state == "running":
                self.cancel(job.id)
