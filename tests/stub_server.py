"""A tiny OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It answers POST /v1/chat/completions with whatever its responder returns: scripted
replies, errors (429/500/401), malformed JSON, slow answers. POST /v1/completions (raw
text, as vLLM serves) goes to the same responder (its body has "prompt", not "messages")
and a text reply comes back as a text completion; `completions = False` makes the stub a
chat-only server (404 there, like api.openai.com). It records every request
body (with its arrival time) and the peak number of requests in flight, so tests can count calls and check that
concurrency is bounded.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    raw: bytes | None = None  # sent as is (e.g. malformed JSON)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def chat_body(texts: list[str] | str, finish_reason: str = "stop", prompt_tokens: int = 10,
              completion_tokens: int | None = None, model: str = "stub") -> dict[str, Any]:
    """A chat.completions response body with one choice per text."""
    if isinstance(texts, str):
        texts = [texts]
    if completion_tokens is None:
        completion_tokens = sum(len(t.split()) for t in texts)
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish_reason}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def reasoning_body(answer: str, reasoning: str = "", field: str = "reasoning_content",
                   finish_reason: str = "stop", reasoning_tokens: int | None = None) -> dict[str, Any]:
    """A reasoning model's chat.completions body: the trace in `field` of the message
    (`reasoning_content` as vLLM and DeepSeek send it, or `reasoning`); empty `field`
    leaves it wherever `answer` holds it (a <think> block in the content). Usage counts
    reasoning tokens as OpenAI does, inside completion_tokens and in completion_tokens_details."""
    body = chat_body(answer, finish_reason=finish_reason)
    if reasoning and field:
        body["choices"][0]["message"][field] = reasoning
    think = len(reasoning.split()) if reasoning_tokens is None else reasoning_tokens
    usage = body["usage"]
    usage["completion_tokens"] += think if field else 0
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    usage["completion_tokens_details"] = {"reasoning_tokens": think}
    return body


def completion_body(texts: list[str], finish_reason: str = "stop", prompt_tokens: int = 10) -> dict[str, Any]:
    """A /v1/completions (text_completion) response body with one choice per text."""
    completion_tokens = sum(len(t.split()) for t in texts)
    return {
        "id": "cmpl-stub", "object": "text_completion", "created": int(time.time()), "model": "stub",
        "choices": [{"index": i, "text": t, "finish_reason": finish_reason, "logprobs": None}
                    for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "stub_error", "code": status}}


def _is_raw(path: str) -> bool:
    path = path.split("?")[0].rstrip("/")
    return path.endswith("/completions") and not path.endswith("/chat/completions")


Responder = Callable[[dict[str, Any]], "Reply | str | list[str]"]


class _Server(ThreadingHTTPServer):
    # the listen backlog is fixed when the socket opens, so it must be a class attribute;
    # the default 5 drops SYNs under 32 concurrent connects (1 s retransmits, resets)
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that timed out or was cancelled hangs up mid-reply: expected in the
        # timeout/cancel tests, not worth a traceback on stderr
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class StubLLMServer:
    """Start with `with StubLLMServer(responder) as s:`; s.url is the base URL (…/v1).

    The responder gets the request body and returns a Reply, a string (one choice) or a
    list of strings (n choices). Without a responder, queued replies (`enqueue`) are
    served in order, and after them `default` (a function of the body) answers."""

    def __init__(self, responder: Responder | None = None, default: Responder | None = None):
        self.responder = responder
        self.default = default or (lambda body: "ok")
        self.queue: deque = deque()
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []  # the URL path of each request, in order
        self.completions = True  # serve /v1/completions (False: 404 there, a chat-only API)
        self.headers: list[dict[str, str]] = []  # the HTTP headers of each request, in order
        self.times: list[float] = []  # time.monotonic() at each request's arrival, in order
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------
    def enqueue(self, *replies) -> None:
        self.queue.extend(replies)

    def _answer(self, body: dict[str, Any], path: str = "/v1/chat/completions") -> Reply:
        raw = _is_raw(path)
        if raw and not self.completions:
            return Reply(status=404, body=error_body(404, "This is a chat model and not supported in the "
                                                          "v1/completions endpoint."))
        with self._lock:
            queued = self.queue.popleft() if self.queue else None
        reply = queued if queued is not None else (self.responder or self.default)(body)
        if isinstance(reply, Reply):
            return reply
        texts = reply if isinstance(reply, list) else [reply]
        return Reply(body=completion_body(texts) if raw else chat_body(texts))

    # -- lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "StubLLMServer":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes; with Nagle on, the body waits for
            # the client's delayed ACK (~40 ms a request on loopback)
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(Reply(body={"object": "list", "data": [{"id": "stub", "object": "model"}]}))
                else:
                    self._send(Reply(status=404, body=error_body(404, "not found")))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with stub._lock:
                    stub.requests.append(body)
                    stub.paths.append(self.path)
                    stub.headers.append(dict(self.headers.items()))
                    stub.times.append(time.monotonic())
                    stub.in_flight += 1
                    stub.peak_in_flight = max(stub.peak_in_flight, stub.in_flight)
                try:
                    reply = stub._answer(body, self.path)
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                self._send(reply)

            def _send(self, reply: Reply):
                data = reply.raw if reply.raw is not None else json.dumps(reply.body or {}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StubLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers for assertions ----------------------------------------------------
    def user_prompts(self) -> list[str]:
        """The last user message of every request received."""
        out = []
        for body in self.requests:
            users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
            out.append(users[-1] if users else "")
        return out


if __name__ == "__main__":  # handy for manual runs: python tests/stub_server.py
    with StubLLMServer(default=lambda body: "1. Stub instruction one\n2. Stub instruction two") as s:
        print(s.url, flush=True)
        threading.Event().wait()
