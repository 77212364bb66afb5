"""What the benches share: a loopback OpenAI-compatible endpoint in its own process (so
its threads never compete with the client for the GIL), and writing a result JSON.

    with loopback(reply_for, delay=0.2, log=True) as server:   # reply_for(body) -> text
        ... server.url ... server.stamps() ...
    write_result(result, "bench/results/x.json")
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def fixed(text: str) -> Callable[[dict], str]:
    """A reply function that always answers `text` (picklable, for the server process)."""
    return functools.partial(_fixed, text)


def _fixed(text: str, body: dict) -> str:
    return text


def _serve(reply, delay: float, tokens: dict, urls, stop, log) -> None:
    from stub_server import Reply, StubLLMServer, chat_body

    def respond(body):
        if log is not None:
            log.put(time.time())
        return Reply(body=chat_body(reply(body), **tokens), delay=delay)

    with StubLLMServer(default=respond) as server:
        urls.put(server.url)
        stop.wait()


class Loopback:
    """A running endpoint: `url`, and `stamps()` — arrival times of the requests since the
    last call (when started with log=True)."""

    def __init__(self, url: str, log):
        self.url, self._log = url, log

    def stamps(self) -> list[float]:
        out = []
        while self._log is not None and not self._log.empty():
            out.append(self._log.get())
        return out


@contextlib.contextmanager
def loopback(reply: Callable[[dict], str], delay: float, prompt_tokens: int | None = None,
             completion_tokens: int | None = None, log: bool = False) -> Iterator[Loopback]:
    """Serve `reply(body) -> text` after `delay` seconds per request, until the block ends.
    `reply` must be picklable: a module-level function or `fixed(text)`."""
    tokens = {k: v for k, v in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens))
              if v is not None}
    ctx = mp.get_context("spawn")
    urls, stop, stamps = ctx.Queue(), ctx.Event(), ctx.Queue() if log else None
    proc = ctx.Process(target=_serve, args=(reply, delay, tokens, urls, stop, stamps), daemon=True)
    proc.start()
    try:
        yield Loopback(urls.get(timeout=60), stamps)
    finally:
        stop.set()
        proc.join(timeout=10)


def write_result(result: dict, path: str | Path, summary_without: tuple[str, ...] = ()) -> Path:
    """Write the result JSON (with the machine's load and cores) and print it (less the
    bulky keys named in `summary_without`)."""
    result = {**result, "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in summary_without}, ensure_ascii=False))
    return path
