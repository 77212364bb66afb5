"""Run a YAML pipeline: generate -> filter -> publish a dataset version -> train.

    generator: {type: self-instruct, num: 50, seeds: [seeds/en.jsonl], ...}   # + that generator's config
    llm:       {backend: openai, base_url: [...], model: ...}                  # LLMConfig
    filters:   {rouge: 0.7, embed: 0.95, ...}                                 # FilterConfig
    dataset:   {name: demo, store: datasets}                                  # or out: FILE.jsonl
    score:     {scorer: judge, aspects: false, judge_llm: {...}}               # optional ScoreConfig (or a list)
    select:    {by: judge, min: 4, budget: 1000, diversity: 0.9}              # optional SelectConfig
    train:     {base_model: embedded, out: adapters/demo-{version}, ...}       # optional TrainConfig
    eval:      {eval: held-out.jsonl, promote_if: better}                     # optional EvalConfig

The sections after `dataset:` are post-publish steps (run/steps.py): each takes the
version the one before left and leaves the next, in the order of steps.STEPS; adding one
is a Step class and a STEPS line.

yaml.safe_load only; every section is a dataclass and unknown keys are rejected by name.
Relative paths are relative to the working directory (cron: cd first). Command-line flags
override the file. The dataset lock is held from generation through training, so a second
run of the same pipeline exits with code 3 instead of racing the first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Origin, check_values, from_dict, yaml_key_lines
from ..errors import ConfigError
from ..filters import FilterConfig
from ..generators import REGISTRY, GeneratorConfig, get_generator
from ..io import load_yaml  # noqa: F401  (re-exported: pipeline.load_yaml)
from ..llm import LLMConfig
from .runner import RunResult
from .steps import STEPS, Step, StepState, get_step

if TYPE_CHECKING:  # the built-in stages' configs, imported when their section is parsed
    from ..eval.config import EvalConfig
    from ..quality import ScoreConfig
    from ..quality.select import SelectConfig
    from ..store import DatasetStore
    from ..train.config import TrainConfig

SECTIONS = ("generator", "llm", "filters", "dataset", "out", "rejects")  # and a section per step in STEPS
_SHOWN_FIRST = ("train",)  # --dry-run has always shown train: before the quality sections


@dataclass
class DatasetSection:
    name: str = field(metadata={"help": "Dataset name in the store."})
    store: str | None = field(default=None, metadata={"help": "Store root [default: $DATAGEN_STORE or ./datasets]."})


@dataclass
class Pipeline:
    """A parsed pipeline. `generator` is the generator's own config dataclass; `stages`
    holds the post-publish steps' configs by section (run/steps.py), each a list."""

    type: str
    generator: GeneratorConfig
    llm: LLMConfig
    filters: FilterConfig
    num: int = 20
    dataset: DatasetSection | None = None
    out: str | None = None
    rejects: str | None = None
    source: str = ""
    stages: dict[str, list[Any]] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)  # --dry-run, --max-cost, --max-total-tokens

    def stage_configs(self, section: str) -> list[Any]:
        return self.stages.get(section, [])

    def steps(self) -> list[Step]:
        """The post-publish steps, in the order they run."""
        return [get_step(s)(cfg) for s in STEPS for cfg in self.stage_configs(s)]

    def store(self) -> DatasetStore:
        from ..store import DatasetStore

        return DatasetStore(self.dataset.store if self.dataset else None)

    # the built-in stages by name, as they were fields
    @property
    def score(self) -> list[ScoreConfig]:
        return self.stage_configs("score")

    @property
    def select(self) -> SelectConfig | None:
        return next(iter(self.stage_configs("select")), None)

    @property
    def train(self) -> TrainConfig | None:
        return next(iter(self.stage_configs("train")), None)

    @property
    def eval(self) -> EvalConfig | None:
        return next(iter(self.stage_configs("eval")), None)

    def public(self) -> dict[str, Any]:
        """The resolved pipeline without secrets (for --dry-run and logs)."""
        d = {"generator": {"type": self.type, "num": self.num, **dataclasses.asdict(self.generator)},
             "llm": self.llm.public(), "filters": dataclasses.asdict(self.filters)}
        if self.dataset:
            d["dataset"] = dataclasses.asdict(self.dataset)
        if self.out:
            d["out"] = self.out
        for section in sorted(self.stages, key=lambda s: (s not in _SHOWN_FIRST, list(STEPS).index(s))):
            cfgs = [_public_score(c) if section == "score" else dataclasses.asdict(c) for c in self.stages[section]]
            d[section] = cfgs if get_step(section).many else cfgs[0]
        return d


@dataclass
class PipelineResult:
    run: RunResult  # PublishedRun when a dataset was written
    train_report: dict[str, Any] | None = None
    eval_report: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None  # promote_if's decision
    notes: list[str] = field(default_factory=list)


def generator_classes(type_: str):
    """(config class, generator class) of a registered generator."""
    try:
        gen_cls = get_generator(type_)
    except ConfigError as e:
        raise ConfigError(f"generator.type: {e}") from None
    return gen_cls.config_cls, gen_cls


def parse(data: dict[str, Any], source: str = "pipeline", lines: dict | None = None) -> Pipeline:
    """Build a Pipeline from a mapping; ConfigError names the file, the line (with
    `lines`, see config.yaml_key_lines) and the unknown or bad key."""
    from .job import RunSettings

    origin = Origin(file=source, keys=lines or {})
    allowed = (*SECTIONS, *STEPS)
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise origin.error("", f"unknown section '{unknown[0]}' (allowed: {', '.join(allowed)})", key=unknown[0])
    gen = data.get("generator")
    gorigin = origin.child("generator")
    if not isinstance(gen, dict) or not gen.get("type"):
        raise gorigin.error("", f"generator.type is required ({', '.join(REGISTRY)})")
    gen = dict(gen)
    type_ = gen.pop("type")
    num = check_values(RunSettings, {"num": gen.pop("num", 20)}, "generator", gorigin)["num"]
    try:
        cfg_cls, _ = generator_classes(str(type_))
    except ConfigError as e:
        raise gorigin.error("", str(e), key="type") from None
    top = check_values(Pipeline, {k: data.get(k) for k in ("out", "rejects")}, "", origin)
    pipe = Pipeline(
        type=type_, num=num, source=source,
        generator=from_dict(cfg_cls, gen, "generator", origin=gorigin),
        llm=from_dict(LLMConfig, _section(data, "llm", origin), "llm", origin=origin.child("llm")),
        filters=from_dict(FilterConfig, _section(data, "filters", origin), "filters",
                          origin=origin.child("filters")),
        out=top["out"], rejects=top["rejects"],
    )
    if data.get("dataset") is not None:
        ds = data["dataset"]
        if isinstance(ds, str):
            ds = {"name": ds}
        pipe.dataset = from_dict(DatasetSection, _section({"dataset": ds}, "dataset", origin), "dataset",
                                 origin=origin.child("dataset"))
    for section in STEPS:
        _parse_step(pipe, data, section, origin)
    needing = [s for s in STEPS if get_step(s).needs_dataset]
    if pipe.dataset is None and any(pipe.stage_configs(s) for s in needing):
        raise origin.error("", f"the {'/'.join(needing)} stages need a dataset: section")
    return pipe


def _parse_step(pipe: Pipeline, data: dict[str, Any], section: str, origin: Origin) -> None:
    """A post-publish step's section (a mapping, or a list of them where the step allows)."""
    val = data.get(section)
    if val is None:
        return
    cls = get_step(section)
    for needed, why in cls.requires.items():
        if data.get(needed) is None:
            raise origin.error("", why, key=section)
    cfg_cls, sorigin = cls.config_class(), origin.child(section)
    many = cls.many and isinstance(val, list)
    for i, sec in enumerate(val if many else [val]):
        where = section + (f"[{i}]" if many else "")
        pipe.stages.setdefault(section, []).append(
            from_dict(cfg_cls, _section({section: sec}, section, origin), where, origin=sorigin))
    cls.check(pipe, origin)


def _section(data, key, origin: Origin) -> dict[str, Any]:
    val = data.get(key)
    if val is None:
        return {}
    if not isinstance(val, dict):
        raise origin.error("", f"section '{key}' must be a mapping", key=key)
    return val


def load(path: str | Path) -> Pipeline:
    """Parse the pipeline file at `path`; errors name the file and the line of the key."""
    from ..io import read_text

    data = load_yaml(path)
    return parse(data, source=str(path), lines=yaml_key_lines(read_text(path)))


def apply_overrides(pipe: Pipeline, run: dict | None = None, filters: dict | None = None,
                    llm: dict | None = None) -> Pipeline:
    """Flags win over the file. Each dict holds only the flags that were given, checked
    already: `run` RunSettings fields, `filters` FilterConfig fields (None turns a
    filter off), `llm` LLMConfig fields."""
    run = dict(run or {})
    pipe.cost.update({k: run.pop(k) for k in ("dry_run", "max_cost", "token_budget") if k in run})
    if "num" in run:
        pipe.num = run.pop("num")
    gen_over = {k: run.pop(k) for k in ("lang", "seed") if k in run}  # every GeneratorConfig has both
    if gen_over:
        pipe.generator = dataclasses.replace(pipe.generator, **gen_over)
    if filters:
        pipe.filters = dataclasses.replace(pipe.filters, **filters)
    if llm:
        from ..llm import with_overrides

        pipe.llm = with_overrides(pipe.llm, **llm)
    out, rejects, dataset, store = (run.get(k) for k in ("out", "rejects", "dataset", "store"))
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

    from .executor import make_executor
    from .job import Run, RunSettings, execute, make_generator
    from .publish import PublishedRun

    if pipe.dataset is None and not pipe.out:
        raise ConfigError(f"{pipe.source}: say where the data goes: a dataset: section (or --dataset NAME), "
                          "or out: FILE.jsonl")
    if pipe.train is not None and train and pipe.dataset is None and not pipe.out:
        raise ConfigError(f"{pipe.source}: the train stage needs the data written somewhere")
    lock = pipe.store().lock(pipe.dataset.name) if pipe.dataset else None
    with lock if lock is not None else nullcontext():
        _, gen_cls = generator_classes(pipe.type)
        settings = RunSettings(num=pipe.num, out=pipe.out, rejects=pipe.rejects,
                               dataset=pipe.dataset.name if pipe.dataset else None,
                               store=pipe.dataset.store if pipe.dataset else None, **pipe.cost)
        executor = make_executor(settings, pipe.llm)  # before the generator: it may convert its documents there
        result = execute(Run(make_generator(gen_cls, pipe.generator, executor), settings, pipe.llm, pipe.filters,
                             lock=lock, executor=executor))
        out = PipelineResult(run=result)
        if settings.dry_run:  # an estimate: nothing was generated to score or train on
            return out
        state = StepState(pipe, out, result.version if isinstance(result, PublishedRun) else None,
                          lock=lock, progress=progress, train=train)
        for step in pipe.steps():
            step.run(state)
    return out


def _public_score(cfg) -> dict[str, Any]:
    from ..llm import LLMConfig

    d = dataclasses.asdict(cfg)
    if cfg.judge_llm:
        d["judge_llm"] = from_dict(LLMConfig, cfg.judge_llm).public()
    return d
