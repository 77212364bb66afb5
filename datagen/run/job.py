"""One `datagen run`: build the client and the filter chain, run the generator, and
write the records to a file or publish them as a dataset version.

A run is one object, `Run`: the generator, its settings and configs, the language, and
while it runs the client, executor and dataset lock. `datagen run NAME`, a pipeline and
the studio build one and hand it to `execute`; `publish_run` and the manifest read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..generators.base import Generator
from ..text import LANG_CHOICES
from .runner import RunResult, run_generator, write_result

if TYPE_CHECKING:
    from ..filters import FilterConfig
    from ..llm import LLMConfig
    from ..llm.base import ChatClient
    from ..store import DatasetLock, DatasetStore


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
        "help": "Write kept records to this JSONL (rejects beside it); with --dataset, this run's new "
                "records as well as the version.", "path": "file"})
    rejects: str | None = field(default=None, metadata={"help": "Rejects JSONL path.", "path": "file"})
    dataset: str | None = field(default=None, metadata={
        "help": "Publish a new version of this dataset in the store [default: named after the seeds, "
                "docs or triples file, when --out is not given either]."})
    store: str | None = field(default=None, metadata={
        "help": "Dataset store root [default: ./datasets, or $DATAGEN_STORE].", "path": "dir"})
    executor: str = field(default="local", metadata={
        "help": "Where input blocks run: local (this process) or ray (Ray tasks: Self-QA and Self-KG blocks, datagen score).",
        "choices": EXECUTORS})
    ray_address: str | None = field(default=None, metadata={
        "help": "Ray cluster to join with --executor ray: auto, HOST:PORT [default: start a local one]."})
    ray_workers: int | None = field(default=None, metadata={
        "help": "Blocks in flight at once with --executor ray [default: the cluster's CPUs].", "min": 1})

    dry_run: bool = field(default=False, metadata={
        "help": "Build the first round's prompts without sending them and print the estimated requests, "
                "tokens and dollars; nothing is sent or published.", "flag": "--dry-run"})
    max_cost: float | None = field(default=None, metadata={
        "help": "Stop before the run's LLM cost would pass this many US dollars; the records kept so far "
                "are published.", "gt": 0})
    # not --max-tokens: generators have max_tokens fields (the length of one reply)
    token_budget: int | None = field(default=None, metadata={
        "help": "Stop before the run's prompt + completion tokens would pass N (all calls); the records "
                "kept so far are published.", "flag": "--max-total-tokens", "min": 1})

    def budget(self):
        from ..llm.ledger import Budget

        return Budget(max_cost=self.max_cost, max_tokens=self.token_budget)

    def __post_init__(self):
        from ..config import validate

        validate(self)


def batch_state_path(settings: RunSettings):
    """Where --batch-api keeps its batch ids: beside the dataset's lock, else the cache dir."""
    from pathlib import Path

    if not settings.dataset:
        return None
    from ..store import DatasetStore

    return Path(DatasetStore(settings.store).root) / settings.dataset / ".batches.json"


def default_dataset(gen: Generator) -> str:
    """The dataset a run publishes to when none is named: its main input file's name
    (`--seeds seeds.jsonl` -> `seeds`), else the generator's name (Magpie)."""
    import re
    from pathlib import Path

    value = getattr(gen.config, gen.required[0], None) if gen.required else None
    value = value[0] if isinstance(value, (list, tuple)) and value else value
    path = str(value or (gen.report.inputs[0] if gen.report.inputs else ""))
    stem = Path(path.rstrip("/")).stem if path else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:100]
    return name or gen.name


def make_generator(gen_cls, cfg, executor=None) -> Generator:
    """The generator, built (its inputs read) where the run's executor says: under
    `--executor ray` a generator that `maps_inputs` converts its documents as Ray tasks."""
    mapper = getattr(executor, "map", None)
    if gen_cls.maps_inputs and mapper is not None:
        return gen_cls(cfg, map_fn=mapper)
    return gen_cls(cfg)


def choose_destination(gen: Generator, settings: RunSettings) -> str | None:
    """Where the records go: --dataset (a version in the store; with --out too, this
    run's new records are also written there), --out (a file), or neither given: a
    dataset named after the main input, in the store (./datasets unless --store or
    $DATAGEN_STORE). Returns the note saying so when the name was chosen here."""
    if settings.dataset or settings.out:
        return None
    settings.dataset = default_dataset(gen)
    return (f"dataset '{settings.dataset}' named after the input (choose with --dataset NAME, "
            f"or --out FILE.jsonl for a plain file)")


@dataclass
class Run:
    """One run: what generates, with which settings and configs, in which language; and,
    while `execute` runs it, the client, the executor and the dataset lock.

    The language and the seed are settled here, once: `settings.lang` asks for a language
    (auto: the generator's own, from its config or inputs), the generator is pinned to the
    answer, and `settings.seed` is the generator's seed (a `--seed` flag sets the
    generator's config before it is built)."""

    gen: Generator
    settings: RunSettings
    llm: LLMConfig
    filters: FilterConfig
    lock: DatasetLock | None = None  # the dataset's lock when the caller already holds it
    client: ChatClient | None = None  # made (and closed) by execute unless given
    executor: Any = None  # run/executor.py: where input blocks run (made by execute)

    def __post_init__(self):
        from ..generators import run_language

        self.settings.lang = run_language(self.gen, self.settings.lang)
        self.settings.seed = self.gen.seed

    @property
    def lang(self) -> str:
        return self.settings.lang

    @property
    def store(self) -> DatasetStore:
        from ..store import DatasetStore

        return DatasetStore(self.settings.store)


def execute(run: Run) -> RunResult:
    """Build client and filter chain, run the generator, and write or publish the result.

    With `settings.dataset`, the store publishes a new version (deduplicated against its
    parent; `run.lock`: the dataset's lock when the caller already holds it); otherwise
    the records go to `settings.out`."""
    from ..filters import build_chain
    from ..llm import make_client

    settings, gen = run.settings, run.gen
    if settings.dry_run:
        from .estimate import estimate_run

        return estimate_run(gen, settings, run.llm, run.filters, run.lang)
    note = choose_destination(gen, settings)
    from .executor import make_executor

    if run.executor is None:  # a missing ray extra fails before any call
        run.executor = make_executor(settings, run.llm)
    own = run.client is None
    if own:
        run.client = make_client(run.llm, budget=settings.budget(), batch_state=batch_state_path(settings))
        run.client.warm_up()  # connections start while the filters and the generator are built
    try:
        if settings.dataset:
            from .publish import publish_run

            result = publish_run(run)
            if note:
                result.report.notes.insert(0, note)
            if settings.out:  # --out beside --dataset: this run's new records there too
                write_result(result, settings.out, settings.rejects)
            return result
        chain = build_chain(run.filters, run.lang)
        result = run_generator(gen, run.client, chain, settings.num, executor=run.executor,
                               reasoning=run.llm.reasoning)
        result.llm = run.llm.public()
        write_result(result, settings.out, settings.rejects)
        return result
    finally:
        if own:
            run.client.close()
            run.client = None
