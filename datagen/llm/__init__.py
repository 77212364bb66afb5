"""LLM clients. `make_client(LLMConfig)` builds the configured backend; callers get a
ChatClient passed in and never import a backend themselves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from .base import ChatClient, ChatRequest, Choice, Completion, Usage, chat, match_option

BACKENDS = ("local", "openai")
__all__ = ["LLMConfig", "make_client", "with_overrides", "ChatClient", "ChatRequest", "Choice", "Completion", "Usage", "chat",
           "match_option"]


@dataclass
class LLMConfig:
    backend: str = "local"
    base_url: list[str] = field(default_factory=list)
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the key itself is read from the environment, never stored
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 6
    logprobs: bool = True
    cache: bool = True
    cache_path: str | None = None
    threads: int = 1  # torch threads for the local backend: 1 is steadiest on small VMs

    def __post_init__(self):
        if isinstance(self.base_url, str):
            self.base_url = [self.base_url]
        self.base_url = list(self.base_url or [])
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend '{self.backend}' (choose from {', '.join(BACKENDS)})")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")

    def resolved_model(self) -> str:
        if self.model:
            return self.model
        if self.backend == "local":
            return "SmolLM2-135M-Instruct"
        return os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

    def public(self) -> dict:
        """The config as it may be written to manifests and logs (no secrets)."""
        return {
            "backend": self.backend, "base_url": list(self.base_url) or self._env_base_urls(),
            "model": self.resolved_model(), "concurrency": self.concurrency,
            "timeout": self.timeout, "max_retries": self.max_retries, "cache": self.cache,
        }

    def _env_base_urls(self) -> list[str]:
        env = os.environ.get("OPENAI_BASE_URL")
        return [env] if env and self.backend == "openai" else []


def with_overrides(base: LLMConfig | None = None, **kw) -> LLMConfig:
    """`base` (YAML) with command-line values laid over it where given (None: not given);
    `base_url` is a sequence, `no_cache` a flag."""
    from ..config import merge

    base = base or LLMConfig()
    base_url = list(kw.pop("base_url", ()) or ()) or None
    no_cache = kw.pop("no_cache", False)
    backend = kw.get("backend")
    if base_url and backend is None and base.backend == "local":
        kw["backend"] = "openai"  # a base URL only makes sense for the openai backend
    cfg = merge(base, base_url=base_url, cache=False if no_cache else None, **kw)
    cfg.__post_init__()
    return cfg


def make_client(cfg: LLMConfig) -> ChatClient:
    from .cache import ResponseCache

    cache = ResponseCache(cfg.cache_path) if cfg.cache else None
    if cfg.backend == "openai":
        from .openai_compat import OpenAIChatClient

        urls = cfg.base_url or cfg._env_base_urls() or ["https://api.openai.com/v1"]
        return OpenAIChatClient(
            model=cfg.resolved_model(), base_urls=urls, api_key=os.environ.get(cfg.api_key_env),
            concurrency=cfg.concurrency, timeout=cfg.timeout, max_retries=cfg.max_retries,
            cache=cache, logprobs=cfg.logprobs,
        )
    from .local import LocalChatClient

    return LocalChatClient(model_path=cfg.model, cache=cache, threads=cfg.threads)
