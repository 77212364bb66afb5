"""Secrets never reach the screen: a key a server quotes back, a Bearer header in an
exception, an `sk-…` token in a log line are all redacted before printing."""

import logging

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import LLMError
from datagen.llm.base import chat
from datagen.llm.openai_compat import OpenAIChatClient
from datagen.secrets import redact, redact_logging, remember
from stub_server import Reply, error_body

KEY = "sk-proj-QUOTED-BACK-7c1e9a55d0"
ODD_KEY = "zz-custom-gateway-key-8842"  # a gateway key with no well-known shape


def test_a_key_quoted_in_a_401_never_reaches_stderr(stub, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    stub.default = lambda body: Reply(status=401, body=error_body(401, f"Incorrect API key provided: {KEY}."))
    res = CliRunner().invoke(main, ["llm", "hi", "--base-url", stub.url, "--no-cache"])
    assert res.exit_code == 2
    assert "HTTP 401" in res.stderr and "<redacted>" in res.stderr
    assert KEY not in res.output and "QUOTED-BACK" not in res.output


def test_a_key_from_another_variable_is_redacted_too(stub, monkeypatch):
    monkeypatch.setenv("GATEWAY_KEY", ODD_KEY)
    stub.default = lambda body: Reply(status=403, body=error_body(403, f"key {ODD_KEY} may not use model m"))
    from datagen.llm import LLMConfig, make_client

    client = make_client(LLMConfig(backend="openai", base_url=[stub.url], api_key_env="GATEWAY_KEY", cache=False))
    try:
        with pytest.raises(LLMError) as err:
            chat(client, [{"role": "user", "content": "x"}])
    finally:
        client.close()
    assert ODD_KEY not in str(err.value) and "<redacted>" in str(err.value)


def test_llm_error_built_by_the_client_is_redacted(stub):
    stub.default = lambda body: Reply(status=400, body=error_body(400, "bad header Authorization: Bearer abc.def-123"))
    client = OpenAIChatClient("m", [stub.url], max_retries=0)
    try:
        with pytest.raises(LLMError) as err:
            chat(client, [{"role": "user", "content": "x"}])
    finally:
        client.close()
    assert "abc.def-123" not in str(err.value) and "Bearer <redacted>" in str(err.value)


@pytest.mark.parametrize("text, gone", [
    ("Incorrect API key provided: sk-abc123def456ghi.", "sk-abc123def456ghi"),
    ("Authorization: Bearer eyJhbGciOi.x-y_z", "eyJhbGciOi"),
    ("token hf_AbCdEfGhIjKlMnOp here", "hf_AbCdEfGhIjKlMnOp"),
])
def test_redact_shapes(text, gone):
    out = redact(text)
    assert gone not in out and "<redacted>" in out


def test_redact_leaves_ordinary_text_alone():
    text = "ask-me anything; task-based sk- prefix; HTTP 401 (check OPENAI_API_KEY)"
    assert redact(text) == text


def test_remembered_and_environment_secrets(monkeypatch):
    remember("plain-secret-value-31")
    monkeypatch.setenv("OPENAI_API_KEY", "envkey-0042")
    assert redact("a plain-secret-value-31 and envkey-0042") == "a <redacted> and <redacted>"


def test_log_records_are_redacted(caplog):
    redact_logging()
    with caplog.at_level(logging.WARNING, logger="some.library"):
        logging.getLogger("some.library").warning("retrying with key %s", "sk-loggedkey12345")
    assert "sk-loggedkey12345" not in caplog.text and "<redacted>" in caplog.text


def test_unexpected_exceptions_are_printed_redacted(monkeypatch):
    """A bug's traceback is still shown (exit 1), but with the key masked."""
    import datagen.cli.llm_cmd as llm_cmd

    def boom(*a, **k):
        raise RuntimeError(f"unexpected: header Bearer {KEY}")

    monkeypatch.setattr("datagen.llm.make_client", boom)
    res = CliRunner().invoke(main, ["llm", "hi"])
    assert res.exit_code == 1
    assert "RuntimeError" in res.stderr and "Traceback" in res.stderr
    assert KEY not in res.output
    assert llm_cmd  # imported so the monkeypatched name is the one it uses
