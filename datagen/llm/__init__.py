"""LLM clients. `make_client(LLMConfig)` builds the configured backend; callers get a
ChatClient passed in and never import a backend themselves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..secrets import remember
from .base import ChatClient, ChatRequest, Choice, Completion, Usage, chat, match_option

BACKENDS = ("local", "openai")
ENGINES = ("auto", "llama.cpp", "transformers")
__all__ = ["LLMConfig", "make_client", "with_overrides", "ChatClient", "ChatRequest", "Choice", "Completion", "Usage", "chat",
           "match_option"]


@dataclass
class LLMConfig:
    """The LLM backend (YAML `llm:` section; the --backend/--base-url/... flags)."""

    backend: str = field(default="local", metadata={
        "help": "local = embedded SmolLM2 (offline); openai = any OpenAI-compatible server.",
        "choices": BACKENDS})
    base_url: list[str] = field(default_factory=list, metadata={
        "help": "OpenAI-compatible endpoint; repeat to spread requests over replicas.", "str_ok": True})
    model: str | None = field(default=None, metadata={
        "help": "Model name (openai) or local model folder (local)."})
    # the key itself is read from the environment, never stored
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={
        "help": "Environment variable holding the API key.", "cli": False})
    concurrency: int = field(default=8, metadata={"help": "Requests in flight at once (openai).", "min": 1})
    timeout: float = field(default=120.0, metadata={"help": "Seconds per request (openai).", "gt": 0})
    max_retries: int = field(default=6, metadata={"help": "Retries on 429/5xx/timeouts.", "min": 0})
    logprobs: bool = field(default=True, metadata={
        "help": "Ask for log-probabilities (fixed-choice answers).", "cli": False})
    cache: bool = field(default=True, metadata={"help": "Use the response cache.", "flag": "--cache/--no-cache"})
    cache_path: str | None = field(default=None, metadata={"help": "Response cache file (sqlite)."})
    prices: str | None = field(default=None, metadata={
        "help": "Price table YAML laid over the packaged one [default: $DATAGEN_PRICES]; see docs/cost.md.",
        "path": "file"})
    rpm: int | None = field(default=None, metadata={"help": "Client-side cap on requests per minute (openai).", "min": 1})
    tpm: int | None = field(default=None, metadata={"help": "Client-side cap on tokens per minute (openai).", "min": 1})
    batch_api: bool = field(default=False, metadata={
        "help": "Send each stage's requests as one OpenAI Batch API job (50% cheaper, up to 24h); see docs/cost.md.",
        "flag": "--batch-api/--no-batch-api"})
    batch_fallback: str = field(default="none", metadata={
        "help": "Rows the batch failed twice: none = drop them, online = send them as normal requests.",
        "choices": ("none", "online")})
    batch_poll: float = field(default=10.0, metadata={"help": "Seconds between batch status polls.", "gt": 0,
                                                      "cli": False})
    engine: str = field(default="auto", metadata={
        "help": "Local backend engine: llama.cpp runs the GGUF as it ships (needs llama-cpp-python, "
                "several times faster); transformers runs it dequantized; auto = llama.cpp when installed "
                "and the model is a GGUF (the embedded one or a .gguf file).",
        "choices": ENGINES})
    reasoning: str = field(default="keep", metadata={
        "help": "A reasoning model's thinking (reasoning_content or a <think> block; filters never see it): "
                "keep = stored in each record's meta.reasoning; drop = discarded before publishing. "
                "See docs/reasoning.md.", "choices": ("keep", "drop")})
    # 1 is steadiest on small VMs
    threads: int = field(default=1, metadata={"help": "torch CPU threads for the local backend.", "min": 1})

    def __post_init__(self):
        from ..config import validate

        if isinstance(self.base_url, str):
            self.base_url = [self.base_url]
        self.base_url = list(self.base_url or [])
        validate(self)  # backend, concurrency, timeout, ... against their metadata

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
            **({"engine": self._engine()} if self.backend == "local" else {}),
        }

    def _engine(self) -> str:
        from ..errors import ConfigError

        try:
            return local_engine(self)
        except ConfigError:  # reported where the client is made
            return self.engine

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
    cache = False if no_cache else kw.pop("cache", None)
    cfg = merge(base, base_url=base_url, cache=cache, **kw)
    cfg.__post_init__()
    return cfg


def make_client(cfg: LLMConfig, budget=None, batch_state=None, cache=None) -> ChatClient:
    """The configured backend's client; base URLs are checked before anything is opened.
    Its usage carries a ledger (llm/ledger.py); `budget` caps it; `batch_state` is where
    --batch-api keeps its batch ids (default: the cache dir); `cache` replaces the
    response cache cfg names (a Ray worker's read-only view of it, run/executor.py)."""
    from .cache import ResponseCache
    from .ledger import Ledger, PriceTable

    if cfg.backend == "openai":
        from .failures import check_base_url
        from .openai_compat import OpenAIChatClient

        for url in cfg.base_url:
            check_base_url(url, "--base-url")
        for url in cfg._env_base_urls():
            check_base_url(url, "OPENAI_BASE_URL")
    if cache is None and cfg.cache:
        cache = ResponseCache(cfg.cache_path)
    if cfg.backend == "openai":
        urls = cfg.base_url or cfg._env_base_urls() or ["https://api.openai.com/v1"]
        api_key = os.environ.get(cfg.api_key_env)
        remember(api_key)  # whatever the variable is called, its value is never printed
        client = OpenAIChatClient(
            model=cfg.resolved_model(), base_urls=urls, api_key=api_key,
            concurrency=cfg.concurrency, timeout=cfg.timeout, max_retries=cfg.max_retries,
            cache=cache, logprobs=cfg.logprobs,
        )
        if cfg.rpm or cfg.tpm:
            from .ratelimit import RateLimiter

            client.limiter = RateLimiter(cfg.rpm, cfg.tpm)
        endpoint = ", ".join(_host(u) for u in urls)
    else:
        if local_engine(cfg) == "llama.cpp":
            from .llamacpp import LlamaCppChatClient

            client = LlamaCppChatClient(model_path=cfg.model, cache=cache, threads=cfg.threads)
            endpoint = "local (llama.cpp)"
        else:
            from .local import LocalChatClient

            client = LocalChatClient(model_path=cfg.model, cache=cache, threads=cfg.threads)
            endpoint = "local"
    client.usage.ledger = Ledger(client.backend, client.model, endpoint, PriceTable.load(cfg.prices), budget)
    export = os.environ.get("DATAGEN_BATCH_EXPORT")  # set by `datagen batch export` for its run
    if export and cfg.backend == "openai" and cache is not None:
        from .batch import ExportingClient

        return ExportingClient(client, export)
    if cfg.batch_api:
        from .batch import BatchChatClient

        if cfg.backend != "openai":
            from ..errors import ConfigError

            raise ConfigError("--batch-api needs the openai backend (for vLLM: datagen batch export/import)")
        if cache is None:
            from ..errors import ConfigError

            raise ConfigError("--batch-api answers from the response cache: drop --no-cache")
        return BatchChatClient(client, state_path=batch_state, fallback=cfg.batch_fallback, poll=cfg.batch_poll)
    return client


def recording_client(cfg: LLMConfig, limit: int):
    """A --dry-run's stand-in for the client `cfg` makes (llm/recording.py): it sends
    nothing, and answers from the same response cache under the same keys, so requests
    a run would not pay for count as cached."""
    from .cache import ResponseCache, endpoint_key
    from .recording import RecordingClient

    endpoint = None
    if cfg.backend == "openai":
        endpoint = endpoint_key(cfg.base_url or cfg._env_base_urls() or ["https://api.openai.com/v1"])
    return RecordingClient(backend=cfg.backend, model=cfg.resolved_model(),
                           cache=ResponseCache(cfg.cache_path) if cfg.cache else None, limit=limit, endpoint=endpoint)


def local_engine(cfg: LLMConfig) -> str:
    """The engine the local backend runs on (see LLMConfig.engine)."""
    from ..errors import ConfigError
    from .llamacpp import available

    gguf = cfg.model is None or str(cfg.model).endswith(".gguf")
    if cfg.engine == "transformers" or (cfg.engine == "auto" and not (gguf and available())):
        return "transformers"
    if not available():
        raise ConfigError("--engine llama.cpp needs llama-cpp-python (pip install llama-cpp-python==0.3.36; "
                          "it builds from source)")
    if not gguf:
        raise ConfigError(f"--engine llama.cpp runs GGUF files; {cfg.model} is not one")
    return "llama.cpp"


def _host(url: str) -> str:
    """The endpoint as the ledger names it: scheme, host and path, never credentials."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return f"{u.hostname or ''}{':' + str(u.port) if u.port else ''}{u.path.rstrip('/')}"
