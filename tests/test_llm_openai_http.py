"""The openai backend's own transport (llm/openai_http.py) against the stub server on
127.0.0.1: what it sends, how a failed reply is worded, and that the hot path never
imports the SDK (its import cost the first request 0.55 s)."""

import subprocess
import sys

import pytest

from datagen.errors import LLMError
from datagen.llm.base import ChatRequest
from datagen.llm.openai_compat import OpenAIChatClient
from stub_server import Reply, chat_body, error_body

USER = [{"role": "user", "content": "Say something."}]


@pytest.fixture
def client_at():
    made = []

    def make(url, **kw):
        kw.setdefault("retry_max_wait", 0.02)
        made.append(OpenAIChatClient(model="stub-model", base_urls=[url], **kw))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_sends_the_key_as_a_bearer_token_json_and_the_org_header(stub, client_at, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    client = client_at(stub.url + "/", api_key="sk-test-123")
    [[out]] = client.chat_many([ChatRequest.make(USER, max_tokens=5)])
    assert out.text  # the stub's default reply
    [headers] = stub.headers
    h = {k.lower(): v for k, v in headers.items()}
    assert h["authorization"] == "Bearer sk-test-123"
    assert h["content-type"].startswith("application/json")
    assert h["openai-organization"] == "org-123"
    assert h["user-agent"].startswith("datagen/")
    assert stub.requests[0]["model"] == "stub-model" and stub.requests[0]["max_tokens"] == 5


@pytest.mark.parametrize("reply, words", [
    (Reply(status=404, body=error_body(404, "The model `x` does not exist")),
     "HTTP 404 The model `x` does not exist (check --model and --base-url)"),
    (Reply(status=400, body={"detail": "max_tokens is too large"}),
     "HTTP 400 max_tokens is too large (the server rejected the request)"),
    (Reply(status=403, raw=b""), "HTTP 403 Forbidden (the key may not use this model)"),
])
def test_a_refused_request_says_the_status_and_the_servers_words_once(stub, client_at, reply, words):
    stub.enqueue(reply)
    client = client_at(stub.url, max_retries=3)
    with pytest.raises(LLMError) as err:
        client.chat_many([ChatRequest.make(USER)])
    assert words in str(err.value) and "not retried" in str(err.value)
    assert len(stub.requests) == 1  # a 4xx other than 408/429 is not retried


def test_a_timeout_is_retried_then_named_with_the_flag(stub, client_at):
    stub.default = lambda body: Reply(body=chat_body("late"), delay=1.0)
    client = client_at(stub.url, timeout=0.2, max_retries=1)
    with pytest.raises(LLMError) as err:
        client.chat_many([ChatRequest.make(USER)])
    assert "request timed out after 0.2s (see --timeout)" in str(err.value)
    assert len(stub.requests) == 2  # the first try and one retry


def test_a_run_of_the_openai_backend_never_imports_the_sdk(stub):
    code = f"""
import sys
from datagen.llm.openai_compat import OpenAIChatClient
from datagen.llm.base import ChatRequest
c = OpenAIChatClient(model="m", base_urls=[{stub.url!r}])
c.chat_many([ChatRequest.make([{{"role": "user", "content": "hi"}}])])
c.choose_many([([{{"role": "user", "content": "Yes or no?"}}], "")], ["Yes", "No"])
c.close()
print("openai" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert len(stub.requests) == 2


def test_requests_go_through_the_proxy_the_environment_names(stub, client_at, monkeypatch):
    # the stub plays an HTTP proxy: it gets the absolute URL of a host that does not resolve
    for var in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", stub.url.rsplit("/v1", 1)[0])
    client = client_at("http://api.datagen-proxy-test.invalid/v1", max_retries=0)
    [[out]] = client.chat_many([ChatRequest.make(USER)])
    assert out.text
    assert stub.paths == ["http://api.datagen-proxy-test.invalid/v1/chat/completions"]


def test_no_proxy_and_an_empty_environment_connect_directly(monkeypatch):
    from datagen.llm.openai_http import proxy_for

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert proxy_for("https://api.openai.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.corp:3128"
    assert proxy_for("http://gpu1:8000/v1") is None  # only https goes through it
    monkeypatch.setenv("NO_PROXY", "api.openai.com,localhost")
    assert proxy_for("https://api.openai.com/v1") is None


def test_all_proxy_is_a_fallback_and_a_socks_proxy_one_clear_error(monkeypatch):
    from datagen.errors import ConfigError
    from datagen.llm.openai_http import proxy_for

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ALL_PROXY", "http://user:secret@proxy.corp:3128")
    assert proxy_for("https://api.openai.com/v1") == "http://user:secret@proxy.corp:3128"
    monkeypatch.setenv("ALL_PROXY", "socks5://user:secret@proxy.corp:1080")
    with pytest.raises(ConfigError) as err:
        OpenAIChatClient(model="m", base_urls=["https://api.openai.com/v1"])
    assert "only HTTP(S) proxies" in str(err.value) and "secret" not in str(err.value)


def test_https_endpoints_verify_with_certifis_bundle_unless_the_environment_names_one(monkeypatch):
    import ssl

    from datagen.llm.openai_http import tls_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    ctx = tls_context("https://api.openai.com/v1")
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert tls_context("http://127.0.0.1:8000/v1") is True  # no TLS to set up
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    assert tls_context("https://api.openai.com/v1") is True  # aiohttp's default reads it
