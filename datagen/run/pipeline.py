"""Run a YAML pipeline: generate -> filter -> publish a dataset version -> train.

    generator: {type: self-instruct, num: 50, seeds: [seeds/en.jsonl], ...}   # + that generator's config
    llm:       {backend: openai, base_url: [...], model: ...}                  # LLMConfig
    filters:   {rouge: 0.7, embed: 0.95, ...}                                 # FilterConfig
    dataset:   {name: demo, store: datasets}                                  # or out: FILE.jsonl
    train:     {base_model: embedded, out: adapters/demo, ...}                 # optional TrainConfig

yaml.safe_load only; every section is a dataclass and unknown keys are rejected by name.
Relative paths are relative to the working directory (cron: cd first). Command-line flags
override the file. The dataset lock is held from generation through training, so a second
run of the same pipeline exits with code 3 instead of racing the first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict
from ..errors import ConfigError
from ..generators import REGISTRY, get_generator
from ..io import load_yaml  # noqa: F401  (re-exported: pipeline.load_yaml)

SECTIONS = ("generator", "llm", "filters", "dataset", "out", "rejects", "train")


@dataclass
class DatasetSection:
    name: str
    store: str | None = None  # None: $DATAGEN_STORE or ./datasets


@dataclass
class Pipeline:
    """A parsed pipeline. `generator` is the generator's own config dataclass."""

    type: str
    generator: Any
    num: int = 20
    llm: Any = None
    filters: Any = None
    dataset: DatasetSection | None = None
    out: str | None = None
    rejects: str | None = None
    train: Any = None  # TrainConfig, or None for no training stage
    source: str = ""

    def public(self) -> dict[str, Any]:
        """The resolved pipeline without secrets (for --dry-run and logs)."""
        d = {"generator": {"type": self.type, "num": self.num, **dataclasses.asdict(self.generator)},
             "llm": self.llm.public(), "filters": dataclasses.asdict(self.filters)}
        if self.dataset:
            d["dataset"] = dataclasses.asdict(self.dataset)
        if self.out:
            d["out"] = self.out
        if self.train is not None:
            d["train"] = dataclasses.asdict(self.train)
        return d


@dataclass
class PipelineResult:
    run: Any  # RunResult (PublishedRun when a dataset was written)
    train_report: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def generator_classes(type_: str):
    """(config class, generator class) of a registered generator."""
    try:
        gen_cls = get_generator(type_)
    except ConfigError as e:
        raise ConfigError(f"generator.type: {e}") from None
    return gen_cls.config_cls, gen_cls


def parse(data: dict[str, Any], source: str = "pipeline") -> Pipeline:
    """Build a Pipeline from a mapping; ConfigError names the unknown or bad key."""
    from ..filters import FilterConfig
    from ..llm import LLMConfig

    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section '{unknown[0]}' (allowed: {', '.join(SECTIONS)})")
    gen = data.get("generator")
    if not isinstance(gen, dict) or not gen.get("type"):
        raise ConfigError(f"{source}: generator.type is required ({', '.join(REGISTRY)})")
    gen = dict(gen)
    type_ = gen.pop("type")
    num = gen.pop("num", 20)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ConfigError(f"{source}: generator.num must be a positive integer, got {num!r}")
    cfg_cls, _ = generator_classes(type_)
    pipe = Pipeline(
        type=type_, num=num, source=source,
        generator=from_dict(cfg_cls, gen, f"{source}: generator"),
        llm=from_dict(LLMConfig, _section(data, "llm", source), f"{source}: llm"),
        filters=from_dict(FilterConfig, _section(data, "filters", source), f"{source}: filters"),
        out=data.get("out"), rejects=data.get("rejects"),
    )
    if data.get("dataset") is not None:
        ds = data["dataset"]
        if isinstance(ds, str):
            ds = {"name": ds}
        pipe.dataset = from_dict(DatasetSection, _section({"dataset": ds}, "dataset", source),
                                 f"{source}: dataset")
    if data.get("train") is not None:
        from ..train.config import TrainConfig

        pipe.train = from_dict(TrainConfig, _section(data, "train", source), f"{source}: train")
    return pipe


def _section(data, key, source) -> dict[str, Any]:
    val = data.get(key)
    if val is None:
        return {}
    if not isinstance(val, dict):
        raise ConfigError(f"{source}: section '{key}' must be a mapping")
    return val


def load(path: str | Path) -> Pipeline:
    return parse(load_yaml(path), source=str(path))


def apply_overrides(pipe: Pipeline, *, num=None, lang=None, seed=None, out=None, rejects=None, dataset=None,
                    store=None, rouge=None, embed=None, no_embed=False, embed_model=None,
                    llm_flags: dict | None = None) -> Pipeline:
    """Flags win over the file (None means "not given")."""
    from ..config import merge

    if num is not None:
        pipe.num = num
    gen_over = {k: v for k, v in (("lang", lang), ("seed", seed)) if v is not None}
    for k in gen_over:
        if not hasattr(pipe.generator, k):
            raise ConfigError(f"--{k} does not apply to the {pipe.type} generator")
    pipe.generator = merge(pipe.generator, **gen_over)
    pipe.filters = merge(pipe.filters, rouge=rouge, embed=embed, embed_model=embed_model)
    if no_embed:
        pipe.filters = dataclasses.replace(pipe.filters, embed=None)
    if llm_flags:
        from ..llm import with_overrides

        pipe.llm = with_overrides(pipe.llm, **llm_flags)
    if out is not None:
        pipe.out, pipe.dataset = out, None if dataset is None else pipe.dataset
    if rejects is not None:
        pipe.rejects = rejects
    if dataset is not None:
        pipe.dataset = DatasetSection(name=dataset, store=pipe.dataset.store if pipe.dataset else None)
    if store is not None:
        if pipe.dataset is None:
            raise ConfigError("--store needs a dataset (dataset: section or --dataset NAME)")
        pipe.dataset.store = store
    return pipe


def run(pipe: Pipeline, train: bool = True, progress: bool = True) -> PipelineResult:
    """Run the pipeline. With a dataset, the whole run (and training) holds its lock."""
    from contextlib import nullcontext

    from ..generators import run_language
    from .job import RunSettings, execute
    from ..store import DatasetStore

    if pipe.dataset is None and not pipe.out:
        raise ConfigError(f"{pipe.source}: say where the data goes: a dataset: section (or --dataset NAME), "
                          "or out: FILE.jsonl")
    if pipe.train is not None and train and pipe.dataset is None and not pipe.out:
        raise ConfigError(f"{pipe.source}: the train stage needs the data written somewhere")
    lock = DatasetStore(pipe.dataset.store).lock(pipe.dataset.name) if pipe.dataset else None
    with lock if lock is not None else nullcontext():
        _, gen_cls = generator_classes(pipe.type)
        gen = gen_cls(pipe.generator)
        lang = run_language(gen)
        settings = RunSettings(
            num=pipe.num, lang=lang, seed=pipe.generator.seed, out=pipe.out,
            rejects=pipe.rejects, dataset=pipe.dataset.name if pipe.dataset else None,
            store=pipe.dataset.store if pipe.dataset else None,
        )
        result = execute(gen, settings, pipe.llm, pipe.filters, lang, lock=lock)
        out = PipelineResult(run=result)
        if pipe.train is None or not train:
            return out
        tcfg = _train_config(pipe, result)
        if tcfg is None:
            out.notes.append("training skipped: no new dataset version")
            return out
        from ..train import train as train_fn

        out.train_report = train_fn(tcfg, progress=progress)
    return out


def _train_config(pipe: Pipeline, result):
    """The TrainConfig for this run's data: the version just published (or the out file)."""
    t = pipe.train
    if pipe.dataset is not None:
        version = getattr(result, "version", None)
        if version is None:
            return None
        return dataclasses.replace(t, dataset=version.ref, data=None,
                                   store=t.store or pipe.dataset.store)
    return dataclasses.replace(t, data=pipe.out, dataset=None)
