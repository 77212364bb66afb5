"""Connection failures say what happened, and what cannot succeed is not retried: a
refused connection, a host that does not resolve (RFC 2606 `.invalid`, which fails
without any network), a base URL that is not a URL."""

import socket

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import ConfigError, LLMError
from datagen.llm import LLMConfig, make_client
from datagen.llm.base import chat
from datagen.llm.failures import check_base_url
from datagen.llm.openai_compat import OpenAIChatClient

USER = [{"role": "user", "content": "x"}]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # bound and released: nothing listens there


def fail(url, **kw) -> str:
    client = OpenAIChatClient("m", [url], retry_max_wait=30.0, **kw)
    try:
        with pytest.raises(LLMError) as err:
            chat(client, USER)
    finally:
        client.close()
    return str(err.value)


def test_refused_connection_says_so_and_gives_up_quickly():
    url = closed_port_url()
    msg = fail(url, max_retries=6)
    assert "connection refused" in msg and url in msg
    assert "timed out" not in msg.lower()
    assert "tried 3 times" in msg  # a couple of quick retries, not six with backoff
    assert "\n" not in msg


def test_unresolvable_host_is_not_retried(monkeypatch):
    lookups = []
    real = socket.getaddrinfo

    def counting(host, *a, **k):
        if str(host).endswith(".invalid"):
            lookups.append(host)
        return real(host, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    msg = fail("http://no-such-host.invalid/v1", max_retries=6)
    assert "cannot resolve host 'no-such-host.invalid'" in msg and "not retried" in msg
    assert "timed out" not in msg.lower()
    assert len(lookups) == 1


@pytest.mark.parametrize("url", ["not-a-url", "localhost:8000/v1", "ftp://host/v1", "http://", "http:///v1", ""])
def test_a_base_url_that_is_not_a_url_is_refused_up_front(url):
    with pytest.raises(ConfigError, match="not a URL"):
        check_base_url(url)


@pytest.mark.parametrize("url", ["http://localhost:8000/v1", "https://api.openai.com/v1", "http://[::1]:8000/v1",
                                 "HTTP://Gpu1:8000/v1/"])
def test_good_base_urls_pass(url):
    check_base_url(url)


def test_make_client_checks_urls_before_any_request(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"--base-url 'not-a-url' is not a URL"):
        make_client(LLMConfig(backend="openai", base_url=["not-a-url"], cache_path=str(tmp_path / "c.sqlite")))
    assert not (tmp_path / "c.sqlite").exists()
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000")
    with pytest.raises(ConfigError, match=r"OPENAI_BASE_URL 'localhost:8000' is not a URL"):
        make_client(LLMConfig(backend="openai", cache=False))


def test_cli_bad_url_is_one_line_exit_2():
    res = CliRunner().invoke(main, ["llm", "hi", "--base-url", "not-a-url"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --base-url 'not-a-url' is not a URL") and res.stderr.count("\n") == 1
