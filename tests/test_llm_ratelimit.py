"""x-ratelimit-* headers of successful replies slow the client down before a 429, against the
stub server (which records when each request arrived)."""

import threading
import time

import pytest

from datagen.errors import LLMError
from datagen.llm import LLMConfig, make_client
from datagen.llm.base import ChatRequest
from datagen.llm.ratelimit import RateLimiter
from stub_server import Reply, chat_body, error_body

EXHAUSTED = {"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "0",
             "x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-tokens": "9000",
             "x-ratelimit-reset-tokens": "6ms"}


class StrictServer:
    """Answers like a rate-limited API: the first reply says no requests remain for 1 s, and
    a request that arrives inside that window gets a 429."""

    def __init__(self, window=1.0):
        self.window, self.closed_until, self.first = window, 0.0, True
        self.statuses = []
        self.lock = threading.Lock()

    def __call__(self, body):
        with self.lock:
            now = time.monotonic()
            if now < self.closed_until:
                self.statuses.append(429)
                return Reply(status=429, body=error_body(429, "rate limit reached"), headers={"retry-after": "1"})
            self.statuses.append(200)
            if self.first:
                self.first = False
                self.closed_until = now + self.window
                return Reply(body=chat_body("first"), headers=EXHAUSTED)
            return "ok"


def client_for(stub, tmp_path, **kw):
    cfg = LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0, cache=False, **kw)
    return make_client(cfg)


def msgs(i):
    return [ChatRequest.make([{"role": "user", "content": f"hi {i}"}], max_tokens=8)]


def test_remaining_zero_on_a_200_pauses_the_next_requests_until_the_reset(stub, tmp_path):
    server = StrictServer()
    stub.responder = server
    client = client_for(stub, tmp_path)
    try:
        assert client.chat_many(msgs(0))[0][0].text == "first"
        # max_retries=0: a request inside the window would be a 429 and an LLMError here
        out = client.chat_many([msgs(i)[0] for i in range(1, 4)])
        assert [o[0].text for o in out] == ["ok"] * 3
    finally:
        client.close()
    assert server.statuses == [200] * 4, "walked into a 429"
    # by the server's clock: nothing arrived within the reset window after the header
    assert min(stub.times[1:]) - stub.times[0] >= 1.0
    assert client.limiter.pauses == 1


def test_without_reading_the_200_headers_the_same_server_answers_429(stub, tmp_path):
    """The control: with the limiter off the next request arrives inside the window."""
    server = StrictServer()
    stub.responder = server
    client = client_for(stub, tmp_path)
    client.limiter = None
    try:
        client.chat_many(msgs(0))
        with pytest.raises(LLMError, match="429"):
            client.chat_many(msgs(1))
    finally:
        client.close()
    assert server.statuses == [200, 429]


def test_plenty_remaining_never_pauses(stub, tmp_path):
    stub.default = lambda body: Reply(body=chat_body("ok"), headers={
        "x-ratelimit-remaining-requests": "9999", "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-remaining-tokens": "1999000", "x-ratelimit-reset-tokens": "1m0s"})
    client = client_for(stub, tmp_path)
    try:
        client.chat_many([msgs(i)[0] for i in range(6)])
    finally:
        client.close()
    assert client.limiter.pauses == 0 and client.limiter.pause_until == 0.0


def test_what_remains_is_weighed_against_the_requests_in_flight():
    lim = RateLimiter()
    lim.after_response({"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "2s"}, in_flight=3)
    assert lim.pauses == 0  # 5 left covers the 3 in flight and one more
    lim.after_response({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s"}, in_flight=3)
    assert lim.pauses == 1 and lim.pause_until - time.monotonic() == pytest.approx(2.0, abs=0.2)
    # tokens: each request in flight (and the next) may cost what this reply did
    data = {"usage": {"total_tokens": 100}}
    lim2 = RateLimiter()
    lim2.after_response({"x-ratelimit-remaining-tokens": "450", "x-ratelimit-reset-tokens": "1s"}, 3, data)
    assert lim2.pauses == 0
    lim2.after_response({"x-ratelimit-remaining-tokens": "350", "x-ratelimit-reset-tokens": "1s"}, 3, data)
    assert lim2.pauses == 1
    # a reset in minutes is capped; a header without a reset, or garbled, is ignored
    lim3 = RateLimiter()
    lim3.after_response({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"})
    assert lim3.pause_until - time.monotonic() <= 120.0
    lim4 = RateLimiter()
    lim4.after_response({"x-ratelimit-remaining-requests": "0"})
    lim4.after_response({"x-ratelimit-remaining-requests": "n/a", "x-ratelimit-reset-requests": "1s"})
    assert lim4.pauses == 0
