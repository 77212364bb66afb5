"""The generator contract: a config dataclass, a language, a seed, and `generate()`.

A generator builds prompts and parses replies with pure functions (in its own package),
calls the injected ChatClient, and passes each round's candidates through the
FilterChain it is given (`chain.check_many`). It yields an Outcome per candidate — kept
or dropped with a reason — and the runner counts and writes them. It never writes files.

Everything the run layer needs from a generator is declared here: `config_cls`, `config`
(with `lang` and `seed`), `dominant_lang()`, `report`, and the two ways the run layer
changes a generator — `pin_lang` and `reseed` — which replace the config, never poke it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Sequence

from ..errors import ConfigError
from ..filters.base import FilterChain, Verdict
from ..llm.base import ChatClient
from ..records import Record
from ..text import LANGS

_COUNT_LOCK = threading.Lock()


@dataclass
class Outcome:
    record: Record
    verdict: Verdict
    stage: str = "instruction"  # which step decided: instruction, instance, answer, ...


@dataclass
class GenerationReport:
    """What a generator says about its run beyond the records: why it stopped, notes
    (e.g. why no classification task survived), and per-stage counts of its own work
    (requests, candidates, rounds). Drops are counted by the runner from the outcomes."""

    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    prompt_templates: dict[str, str] = field(default_factory=dict)  # ref -> sha
    inputs: list[str] = field(default_factory=list)  # input files (hashed into manifests)
    held_out: dict[str, Any] = field(default_factory=dict)  # seeds kept out for `datagen eval`
    skipped: dict[str, str] = field(default_factory=dict)  # input file -> why it was not read

    def count(self, key: str, n: int = 1) -> None:
        with _COUNT_LOCK:  # pipelined rounds count from worker threads
            self.counts[key] = self.counts.get(key, 0) + n


@dataclass
class GeneratorConfig:
    """The fields every generator's config has. Subclasses add their own, each with
    `metadata={"help": ...}`: that one declaration gives the YAML key and the CLI flag."""

    lang: str = field(default="auto", metadata={
        "help": "Prompt language: en, zh, or auto (detected from the inputs).", "choices": ("auto",) + LANGS})
    seed: int = field(default=0, metadata={"help": "Random seed for sampling (a refresh adds the version number)."})

    def __post_init__(self):
        from ..config import validate

        if self.lang not in ("auto",) + LANGS:
            raise ConfigError(f"lang must be auto, en or zh, got {self.lang!r}")
        validate(self)  # every field's min/max/choices, as declared in its metadata

    def filter_defaults(self) -> dict:
        """FilterConfig values this config wants instead of the defaults on the command
        line (flags still win), e.g. no near-duplicate dedup for template questions."""
        return {}


class Generator:
    """Base class of every generator. Subclasses set `name` and `config_cls`, take their
    config in `__init__` (reading their inputs there, so bad files fail before any call),
    and implement `generate`."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    summary: ClassVar[str] = ""  # one line for `datagen run --help`
    # the field named by `datagen run NAME ... ` as its main input (e.g. "seeds", "docs")
    required: ClassVar[tuple[str, ...]] = ()
    num_counts: ClassVar[str] = "records"  # what --num counts ("tasks": records carry meta.task_id)
    # True: __init__ also takes `map_fn`, where its CPU-bound input work runs (Self-QA's
    # document conversion: Ray tasks under --executor ray, run/job.py make_generator)
    maps_inputs: ClassVar[bool] = False

    def __init__(self, config: GeneratorConfig):
        if not isinstance(config, self.config_cls):
            raise TypeError(f"{type(self).__name__} takes a {self.config_cls.__name__}, got {type(config).__name__}")
        self.config = config
        self.report = GenerationReport()

    # -- language and seed: declared, not probed ------------------------------------------
    @property
    def lang(self) -> str:
        """The run's language: the configured one, else what the inputs are mostly in."""
        return self.config.lang if self.config.lang in LANGS else self.dominant_lang()

    def dominant_lang(self) -> str:
        """The language most of this generator's inputs are in (override per generator)."""
        return "en"

    def pin_lang(self, lang: str) -> None:
        """Fix the language for the whole run (so prompts and the filter chain agree)."""
        if lang not in LANGS:
            raise ConfigError(f"lang must be en or zh, got {lang!r}")
        self.config = dataclasses.replace(self.config, lang=lang)

    def reseed(self, seed: int) -> None:
        """Run with this seed (a refresh uses base seed + version number - 1)."""
        self.config = dataclasses.replace(self.config, seed=int(seed))

    @property
    def seed(self) -> int:
        return self.config.seed

    def continue_from(self, parent: Sequence[Record]) -> None:
        """A refresh: the records the parent version holds. A generator that walks its inputs
        (Self-QA's chunks) starts with those the parent has not used, so the money goes to
        new records rather than to duplicates of old ones. Default: nothing to do."""

    # -- deterministic randomness: a re-run sends identical requests (cache hits) ---------
    def request_seed(self, *parts: Any) -> int:
        h = hashlib.sha256(json.dumps([self.config.seed, *parts], ensure_ascii=False).encode()).hexdigest()
        return int(h[:8], 16) % (2**31)

    def rng(self, *parts: Any) -> random.Random:
        return random.Random(self.request_seed(*parts))

    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        """Yield outcomes until `num` records are kept or the generator has to stop
        (then say why in report.stop_reason)."""
        raise NotImplementedError


def run_language(gen: Generator, requested: str | None = "auto") -> str:
    """The one language of a run, so prompts and the filter chain agree: `requested` (a
    flag) wins, then the generator's (its config's, else its inputs' dominant language).
    The generator is pinned to it: otherwise, in a mixed folder, prompts written in each
    chunk's own language would be dropped by the chain as `wrong_lang`."""
    lang = requested if requested in LANGS else gen.lang
    gen.pin_lang(lang)
    return lang


def surplus(record: Record, stage: str, why: str) -> Outcome:
    """A paid-for candidate the run did not need or could not finish (a task past --num, a
    round in flight at the stop, a round the cap stopped): a reject with reason `surplus`
    (its tokens in `meta.usage`), so the summary and the manifest count what it cost."""
    own = record.meta.pop("_tokens", None)
    if own is not None and "usage" not in record.meta:
        record.meta["usage"] = {"prompt_tokens": own[0], "completion_tokens": own[1]}
    return Outcome(record, Verdict(False, "surplus", "num", {"why": why}), stage)


def capped(client) -> bool:
    """Has a cap (--max-cost / --max-total-tokens) stopped the run's ledger?"""
    return client.usage.ledger is not None and bool(client.usage.ledger.stopped)
