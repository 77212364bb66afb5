"""One `datagen run`: build the client and the filter chain, run the generator, and
write the records to a file or publish them as a dataset version."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..generators.base import Generator
from .runner import RunResult, run_generator, write_result


LANG_CHOICES = ("auto", "en", "zh")
EXECUTORS = ("local", "ray")


@dataclass
class RunSettings:
    """Everything a `datagen run` needs besides the generator's own inputs; each field is
    a `datagen run` flag."""

    num: int = field(default=20, metadata={"help": "How many records to keep.", "min": 1})
    lang: str = field(default="auto", metadata={
        "help": "Prompt language (auto: detected from the inputs).", "choices": LANG_CHOICES})
    seed: int = field(default=0, metadata={"help": "Random seed for sampling."})
    out: str | None = field(default=None, metadata={
        "help": "Write kept records to this JSONL (rejects beside it).", "path": "file"})
    rejects: str | None = field(default=None, metadata={"help": "Rejects JSONL path.", "path": "file"})
    dataset: str | None = field(default=None, metadata={
        "help": "Publish a new version of this dataset in the store."})
    store: str | None = field(default=None, metadata={
        "help": "Dataset store root (default ./datasets, or $DATAGEN_STORE).", "path": "dir"})
    executor: str = field(default="local", metadata={
        "help": "Where input blocks run: local (this process) or ray (Ray tasks; Self-QA, Self-KG).",
        "choices": EXECUTORS})
    ray_address: str | None = field(default=None, metadata={
        "help": "Ray cluster to join with --executor ray: auto, HOST:PORT (default: start a local one)."})
    ray_workers: int | None = field(default=None, metadata={
        "help": "Blocks in flight at once with --executor ray (default: the cluster's CPUs).", "min": 1})

    def __post_init__(self):
        from ..config import validate

        validate(self)


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
    from .executor import make_executor

    executor = make_executor(settings, llm_cfg)  # a missing ray extra fails before any call
    client = make_client(llm_cfg)
    try:
        if settings.dataset:
            from .publish import publish_run

            return publish_run(gen, client, settings, llm_cfg, filter_cfg, lang, lock=lock, executor=executor)
        chain = build_chain(filter_cfg, lang)
        result = run_generator(gen, client, chain, settings.num, executor=executor)
        result.llm = llm_cfg.public()
        write_result(result, settings.out, settings.rejects)
        return result
    finally:
        client.close()
