"""A loopback fake of OpenAI's Files + Batches API (stdlib http.server), for tests.

POST /v1/files (multipart, purpose batch) stores the file; POST /v1/batches makes a job;
each GET /v1/batches/ID moves it validating -> in_progress -> completed (or `expired`),
and on completion every row is answered through `responder(body) -> text` (as the chat
stub's default) into an output file, rows for which `fail(body, attempt)` is true (decided on the request, not on its
custom_id: that hash includes the port, so a test keyed on it would pass or fail by chance)
into an error file. `hold` keeps jobs in_progress (a process killed while polling).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from stub_server import chat_body


def prompt_tokens(body: dict[str, Any]) -> int:
    """Tokens as the ledger's chars/4 heuristic counts them, so estimates can be checked."""
    return sum((len(str(m.get("content", ""))) + 3) // 4 + 4 for m in body.get("messages", [])) + 3


def odd_prompt(body: dict) -> bool:
    """True for about half of the tests' requests: those whose last user message has an odd
    number in it ("prompt 3", "Is task 5 odd?")."""
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    digits = [int(d) for d in user.split() if d.strip("?").isdigit()] or [0]
    return digits[0] % 2 == 1


class FakeBatchServer:
    def __init__(self, responder: Callable[[dict], str] = lambda body: "ok"):
        self.responder = responder
        self.fail: Callable[[dict, int], bool] = lambda body, attempt: False
        self.expire_next = False  # the next job to finish expires with half its rows done
        self.hold = False
        self.files: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.posted_batches = 0
        self.uploads: list[str] = []  # the JSONL of every uploaded file
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _advance(self, job: dict[str, Any]) -> None:
        order = ["validating", "in_progress", "completed"]
        if job["status"] in ("completed", "expired") or (self.hold and job["status"] == "in_progress"):
            return
        nxt = order[order.index(job["status"]) + 1]
        if nxt != "completed":
            job["status"] = nxt
            return
        rows = [json.loads(line) for line in self.files[job["input_file_id"]].splitlines() if line.strip()]
        expire = self.expire_next
        self.expire_next = False
        if expire:
            rows = rows[: len(rows) // 2]
        out, err = [], []
        for row in rows:
            cid = row["custom_id"]
            if self.fail(row["body"], job["attempt"]):
                err.append({"custom_id": cid, "response": None,
                            "error": {"code": "server_error", "message": "fake failure"}})
                continue
            body = row["body"]
            text = self.responder(body)
            resp = chat_body([text] * int(body.get("n") or 1), prompt_tokens=prompt_tokens(body),
                             model=body.get("model", "stub"))
            out.append({"custom_id": cid, "response": {"status_code": 200, "body": resp}, "error": None})
        for name, rows_ in (("output_file_id", out), ("error_file_id", err)):
            if rows_:
                fid = self._new_id("file")
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows_)
                job[name] = fid
        job["status"] = "expired" if expire else "completed"
        job["request_counts"] = {"total": len(rows), "completed": len(out), "failed": len(err)}

    def start(self) -> "FakeBatchServer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, obj=None, raw: bytes | None = None):
                data = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with fake._lock:
                    if m := re.fullmatch(r"/v1/batches/([\w-]+)", self.path):
                        job = fake.jobs.get(m.group(1))
                        if job is None:
                            return self._send(404, {"error": {"message": "no such batch"}})
                        fake._advance(job)
                        return self._send(200, job)
                    if m := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path):
                        content = fake.files.get(m.group(1))
                        if content is None:
                            return self._send(404, {"error": {"message": "no such file"}})
                        return self._send(200, raw=content.encode())
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._lock:
                    if self.path == "/v1/files":
                        content = _multipart_file(data, self.headers.get("Content-Type", ""))
                        fid = fake._new_id("file")
                        fake.files[fid] = content
                        fake.uploads.append(content)
                        return self._send(200, {"id": fid, "object": "file", "purpose": "batch"})
                    if self.path == "/v1/batches":
                        body = json.loads(data)
                        bid = fake._new_id("batch")
                        fake.posted_batches += 1
                        fake.jobs[bid] = {"id": bid, "object": "batch", "status": "validating",
                                          "input_file_id": body["input_file_id"], "attempt": fake.posted_batches,
                                          "completion_window": body.get("completion_window"),
                                          "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                        return self._send(200, fake.jobs[bid])
                self._send(404, {"error": {"message": "not found"}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _multipart_file(data: bytes, content_type: str) -> str:
    boundary = re.search(r"boundary=\"?([^\";]+)", content_type).group(1).encode()
    for part in data.split(b"--" + boundary):
        head, _, body = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return body.rstrip(b"\r\n").decode("utf-8")
    raise ValueError("no file part")
