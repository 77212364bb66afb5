"""One `datagen run`: build the client and the filter chain, run the generator, and
write the records to a file or publish them as a dataset version."""

from __future__ import annotations

from dataclasses import dataclass

from ..generators.base import Generator
from .runner import RunResult, run_generator, write_result


@dataclass
class RunSettings:
    """Everything a `datagen run` needs besides the generator's own inputs."""

    num: int = 20
    lang: str = "auto"
    seed: int = 0
    out: str | None = None
    rejects: str | None = None
    dataset: str | None = None
    store: str | None = None


def execute(gen: Generator, settings: RunSettings, llm_cfg, filter_cfg, lang: str, lock=None) -> RunResult:
    """Build client and filter chain, run `gen`, and write or publish the result.

    With `settings.dataset`, the store publishes a new version (deduplicated against its
    parent; `lock`: the dataset's lock when the caller already holds it); otherwise the
    records go to `settings.out`."""
    from ..errors import ConfigError
    from ..filters import build_chain
    from ..llm import make_client

    if not settings.dataset and not settings.out:
        raise ConfigError("say where the data goes: --dataset NAME (a versioned dataset) or --out FILE.jsonl")
    client = make_client(llm_cfg)
    try:
        if settings.dataset:
            from .publish import publish_run

            return publish_run(gen, client, settings, llm_cfg, filter_cfg, lang, lock=lock)
        chain = build_chain(filter_cfg, lang)
        result = run_generator(gen, client, chain, settings.num)
        result.llm = llm_cfg.public()
        write_result(result, settings.out, settings.rejects)
        return result
    finally:
        client.close()
