"""Options shared by several commands, declared once."""

from __future__ import annotations

import click

from ..llm import BACKENDS, LLMConfig, with_overrides


def llm_options(fn):
    """--backend/--base-url/--model/... for every command that talks to an LLM."""
    opts = [
        click.option("--backend", type=click.Choice(BACKENDS), default=None,
                     help="local = embedded SmolLM2 (offline); openai = any OpenAI-compatible server."),
        click.option("--base-url", "base_url", multiple=True,
                     help="OpenAI-compatible endpoint; repeat to spread requests over replicas."),
        click.option("--model", default=None, help="Model name (openai) or local model folder (local)."),
        click.option("--concurrency", type=int, default=None, help="Requests in flight at once (openai)."),
        click.option("--timeout", type=float, default=None, help="Seconds per request (openai)."),
        click.option("--max-retries", type=int, default=None, help="Retries on 429/5xx/timeouts."),
        click.option("--no-cache", is_flag=True, default=False, help="Bypass the response cache."),
        click.option("--cache-path", default=None, help="Response cache file (sqlite)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def llm_config_from_flags(base: LLMConfig | None = None, **kw) -> LLMConfig:
    """Overlay the llm_options flags on `base` (YAML) — flags win where given."""
    return with_overrides(base, **kw)


LLM_FLAG_NAMES = ("backend", "base_url", "model", "concurrency", "timeout", "max_retries", "no_cache", "cache_path")


def pop_llm_flags(kwargs: dict) -> dict:
    return {k: kwargs.pop(k) for k in LLM_FLAG_NAMES if k in kwargs}
