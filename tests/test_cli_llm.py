"""`datagen llm "prompt"` against the stub server, and the CLI's error edge."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from datagen import __version__
from datagen.cli import main
from stub_server import Reply, chat_body, error_body

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0 and __version__ in res.output


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from datagen.cli import main; "
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'matplotlib', 'datasets', "
            "'openai') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_llm_prints_the_completion(stub):
    stub.default = lambda body: Reply(body=chat_body("Hello from the stub.", prompt_tokens=4, completion_tokens=4))
    res = invoke("llm", "Say hello.", "--backend", "openai", "--base-url", stub.url, "--model", "tiny",
                 "--system", "Be nice.", "--max-tokens", "20", "--usage")
    assert res.exit_code == 0, res.output
    assert res.stdout == "Hello from the stub.\n"
    assert "'total_tokens': 8" in res.stderr
    sent = stub.requests[0]
    assert sent["messages"] == [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Say hello."}]
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("tiny", 20, 0.0)


def test_base_url_alone_selects_the_openai_backend(stub):
    stub.default = lambda body: "你好！"
    res = invoke("llm", "用中文打个招呼。", "--base-url", stub.url)
    assert res.exit_code == 0, res.output
    assert res.stdout == "你好！\n"
    assert stub.user_prompts() == ["用中文打个招呼。"]


def test_openai_base_url_from_env(stub):
    res = invoke("llm", "hi", "--backend", "openai", env={"OPENAI_BASE_URL": stub.url})
    assert res.exit_code == 0 and res.stdout == "ok\n"


def test_choose(stub):
    stub.default = lambda body: "Negative."
    res = invoke("llm", "Sentiment of 'awful film'?", "--base-url", stub.url, "--choose", "Positive, Negative")
    assert res.exit_code == 0 and res.stdout == "Negative\n"


def test_response_cache_and_no_cache(stub, tmp_path):
    cache = str(tmp_path / "c.sqlite")
    for _ in range(2):
        assert invoke("llm", "hi", "--base-url", stub.url, "--cache-path", cache).exit_code == 0
    assert len(stub.requests) == 1
    for _ in range(2):
        assert invoke("llm", "hi", "--base-url", stub.url, "--cache-path", cache, "--no-cache").exit_code == 0
    assert len(stub.requests) == 3


def one_line_error(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_401_is_one_line_and_exit_2(stub):
    stub.default = lambda body: Reply(status=401, body=error_body(401, "Incorrect API key provided: sk-****"))
    res = invoke("llm", "hi", "--backend", "openai", "--base-url", stub.url, "--max-retries", "5")
    assert res.exit_code == 2
    line = one_line_error(res)
    assert line.startswith("error: LLM call failed (not retried): ")
    assert "HTTP 401" in line and "check OPENAI_API_KEY" in line
    assert res.stdout == ""
    assert len(stub.requests) == 1


def test_unreachable_server_is_one_line_and_exit_2(stub):
    url = stub.url
    stub.stop()
    res = invoke("llm", "hi", "--base-url", url, "--max-retries", "0", "--timeout", "5")
    assert res.exit_code == 2
    assert url in one_line_error(res)


def test_bad_flag_values_are_usage_errors():
    res = invoke("llm", "hi", "--backend", "nope")
    assert res.exit_code == 2 and one_line_error(res) == "error: --backend: 'nope' is not one of 'local', 'openai'"
    res = invoke("llm", "hi", "--base-url", "http://127.0.0.1:9/v1", "--concurrency", "0")
    assert res.exit_code == 2
    assert one_line_error(res) == "error: --concurrency: must be at least 1, got 0"


def test_console_script_in_a_subprocess(stub):
    """The real entry point: exit status and streams as a user's shell sees them."""
    stub.default = lambda body: Reply(status=403, body=error_body(403, "model not allowed"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", "llm", "hi",
                           "--base-url", stub.url, "--no-cache"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "HTTP 403" in proc.stderr and "Traceback" not in proc.stderr
