"""Library noise stays out of normal runs: transformers' deprecation warnings from the
local backend, datasets' progress bars in logs, transformers' info/warning logs."""

import os
import warnings

import pytest

from datagen.run.progress import QUIET_ENV, QUIET_ENV_OFF_TTY, quiet_libraries

SWITCHES = {**QUIET_ENV, **QUIET_ENV_OFF_TTY}


@pytest.fixture
def clean_env(monkeypatch):
    for key in SWITCHES:
        monkeypatch.setenv(key, "placeholder")  # recorded, so the test's changes are undone
        monkeypatch.delenv(key)


def test_off_a_terminal_every_switch_is_set(clean_env):
    quiet_libraries(tty=False)
    assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"


def test_on_a_terminal_bars_stay(clean_env):
    quiet_libraries(tty=True)
    assert "HF_DATASETS_DISABLE_PROGRESS_BARS" not in os.environ
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"


def test_a_users_own_setting_wins(clean_env, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    quiet_libraries(tty=False)
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"


def test_libraries_already_loaded_are_switched_directly(clean_env):
    import datasets
    from transformers.utils import logging as hf_logging

    was_bars, was_level = datasets.is_progress_bar_enabled(), hf_logging.get_verbosity()
    datasets.enable_progress_bars()
    hf_logging.set_verbosity_warning()
    try:
        quiet_libraries(tty=False)
        assert not datasets.is_progress_bar_enabled()
        assert hf_logging.get_verbosity() == hf_logging.ERROR
    finally:
        (datasets.enable_progress_bars if was_bars else datasets.disable_progress_bars)()
        hf_logging.set_verbosity(was_level)


def test_the_cli_quiets_libraries(clean_env):
    from click.testing import CliRunner

    from datagen.cli import main

    assert CliRunner().invoke(main, ["--version"]).exit_code == 0
    assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"  # CliRunner's stderr is no terminal


@pytest.mark.model
def test_local_backend_raises_no_deprecation_warnings(tmp_path):
    from datagen.llm.base import ChatRequest
    from datagen.llm.local import LocalChatClient

    client = LocalChatClient(cache=None)
    msgs = [{"role": "user", "content": "Is the sky blue? Answer Yes or No."}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.choose(msgs, ["Yes", "No"])
        client.choose(msgs + [{"role": "assistant", "content": "Yes"}, {"role": "user", "content": "Sure?"}],
                      ["Yes", "No"])  # the shared prefix reuses the KV cache
        client.chat_many([ChatRequest.make(msgs, max_tokens=4, temperature=0.0)])
    noisy = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))
             and "past_key_values" in str(w.message)]
    assert noisy == []
    client.close()
