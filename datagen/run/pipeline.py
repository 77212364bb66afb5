"""Run a YAML pipeline: generate -> filter -> publish a dataset version -> train.

    generator: {type: self-instruct, num: 50, seeds: [seeds/en.jsonl], ...}   # + that generator's config
    llm:       {backend: openai, base_url: [...], model: ...}                  # LLMConfig
    filters:   {rouge: 0.7, embed: 0.95, ...}                                 # FilterConfig
    dataset:   {name: demo, store: datasets}                                  # or out: FILE.jsonl
    score:     {scorer: judge, aspects: false, judge_llm: {...}}               # optional ScoreConfig (or a list)
    select:    {by: judge, min: 4, budget: 1000, diversity: 0.9}              # optional SelectConfig
    train:     {base_model: embedded, out: adapters/demo-{version}, ...}       # optional TrainConfig
    eval:      {eval: held-out.jsonl, promote_if: better}                     # optional EvalConfig

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

from ..config import Origin, check_values, from_dict, yaml_key_lines
from ..errors import ConfigError
from ..generators import REGISTRY, get_generator
from ..io import load_yaml  # noqa: F401  (re-exported: pipeline.load_yaml)

SECTIONS = ("generator", "llm", "filters", "dataset", "out", "rejects", "score", "select", "train", "eval")


@dataclass
class DatasetSection:
    name: str = field(metadata={"help": "Dataset name in the store."})
    store: str | None = field(default=None, metadata={"help": "Store root [default: $DATAGEN_STORE or ./datasets]."})


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
    eval: Any = None  # EvalConfig (datagen.eval.config), or None: no eval after training
    source: str = ""
    score: list = field(default_factory=list)  # ScoreConfig per scoring stage, in order
    select: Any = None  # SelectConfig, or None
    cost: dict[str, Any] = field(default_factory=dict)  # --dry-run, --max-cost, --max-total-tokens

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
        if self.score:
            d["score"] = [_public_score(c) for c in self.score]
        if self.select is not None:
            d["select"] = dataclasses.asdict(self.select)
        if self.eval is not None:
            d["eval"] = dataclasses.asdict(self.eval)
        return d


@dataclass
class PipelineResult:
    run: Any  # RunResult (PublishedRun when a dataset was written)
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
    from ..filters import FilterConfig
    from ..llm import LLMConfig
    from .job import RunSettings

    origin = Origin(file=source, keys=lines or {})
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise origin.error("", f"unknown section '{unknown[0]}' (allowed: {', '.join(SECTIONS)})", key=unknown[0])
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
    if data.get("train") is not None:
        from ..train.config import TrainConfig

        pipe.train = from_dict(TrainConfig, _section(data, "train", origin), "train", origin=origin.child("train"))
    _parse_quality(pipe, data, origin)
    if data.get("eval") is not None:
        from ..eval.config import EvalConfig

        if data.get("train") is None:
            raise origin.error("", "the eval stage evaluates the train stage's adapter: add a train: section",
                               key="eval")
        pipe.eval = from_dict(EvalConfig, _section(data, "eval", origin), "eval", origin=origin.child("eval"))
    return pipe


def _parse_quality(pipe: Pipeline, data: dict[str, Any], origin: Origin) -> None:
    """The optional score: (a mapping or a list of them) and select: sections."""
    from ..llm import LLMConfig
    from ..quality import ScoreConfig
    from ..quality.select import SelectConfig

    scores = data.get("score")
    sorigin = origin.child("score")
    for i, sec in enumerate(scores if isinstance(scores, list) else [scores] if scores is not None else []):
        where = "score" + (f"[{i}]" if isinstance(scores, list) else "")
        pipe.score.append(from_dict(ScoreConfig, _section({"score": sec}, "score", origin), where, origin=sorigin))
    for cfg in pipe.score:
        if cfg.judge_llm is not None:
            if not isinstance(cfg.judge_llm, dict):
                raise sorigin.error("score.judge_llm", "must be a mapping (an llm: section)")
            from_dict(LLMConfig, cfg.judge_llm, "score.judge_llm", origin=sorigin)
    if data.get("select") is not None:
        pipe.select = from_dict(SelectConfig, _section(data, "select", origin), "select",
                                origin=origin.child("select"))
    if (pipe.score or pipe.select) and pipe.dataset is None:
        raise origin.error("", "the score/select stages need a dataset: section")


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
    gen_over = {k: run.pop(k) for k in ("lang", "seed") if k in run}
    for k in gen_over:
        if not hasattr(pipe.generator, k):
            raise ConfigError(f"--{k} does not apply to the {pipe.type} generator")
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
            store=pipe.dataset.store if pipe.dataset else None, **pipe.cost,
        )
        result = execute(gen, settings, pipe.llm, pipe.filters, lang, lock=lock)
        out = PipelineResult(run=result)
        if settings.dry_run:  # an estimate: nothing was generated to score or train on
            return out
        version = _quality_stages(pipe, result, lock, out.notes)
        if pipe.train is None or not train:
            return out
        # an empty selection publishes nothing: never train on the unselected version instead
        tcfg = _train_config(pipe, result, version) if version is not None or pipe.select is None else None
        if tcfg is None:
            out.notes.append("training skipped: no new dataset version")
            return out
        from ..extras import require_extra
        from ..train import train as train_fn

        require_extra("train", f"{pipe.source}: the train: stage")

        out.train_report = train_fn(tcfg, progress=progress)
        if pipe.eval is not None:
            _eval_stage(pipe, tcfg, out, progress)
    return out


def _public_score(cfg) -> dict[str, Any]:
    from ..llm import LLMConfig

    d = dataclasses.asdict(cfg)
    if cfg.judge_llm:
        d["judge_llm"] = from_dict(LLMConfig, cfg.judge_llm).public()
    return d


def _quality_stages(pipe: Pipeline, result, lock, notes: list[str]):
    """Score the version just published, then select from it (each a new version, under
    the held lock); returns the version later stages read."""
    version = getattr(result, "version", None)
    if version is None or not (pipe.score or pipe.select):
        return version
    from ..config import from_dict
    from ..llm import LLMConfig, make_client
    from ..quality.stage import score_version, select_version
    from ..store import DatasetStore

    store = DatasetStore(pipe.dataset.store)
    for cfg in pipe.score:
        client = judge_cfg = None
        if cfg.scorer == "judge":
            judge_cfg = (from_dict(LLMConfig, cfg.judge_llm, "score.judge_llm")
                         if cfg.judge_llm else pipe.llm)
            client = make_client(judge_cfg)
        try:
            version, info = score_version(store, version.ref, cfg, client=client, judge_cfg=judge_cfg, lock=lock)
        finally:
            if client is not None:
                client.close()
        notes.append(f"scored {version.ref} with {cfg.scorer}: {info['scored']} scored, {info['failed']} failed")
    if pipe.select is not None:
        version, info = select_version(store, version.ref, pipe.select, lock=lock)
        notes.append(f"selected {info['counts']['selected']} of {info['counts']['candidates']} "
                     f"by {pipe.select.by}: {version.ref if version else 'nothing published'}")
    return version


def _eval_stage(pipe: Pipeline, tcfg, out: PipelineResult, progress: bool) -> None:
    """Evaluate the adapter just trained against its base; with promote_if, gate the
    dataset's `good` tag on it beating the last evaluated version."""
    from ..eval import run_eval
    from ..eval.gate import gate_version
    from ..store import DatasetStore

    ecfg = dataclasses.replace(pipe.eval, adapters=[tcfg.out], store=pipe.eval.store or tcfg.store)
    out.eval_report = run_eval(ecfg, progress=progress)
    if tcfg.dataset and ecfg.promote_if:
        name, _, version = tcfg.dataset.partition("@")
        out.gate = gate_version(DatasetStore(ecfg.store), name, version, ecfg.promote_metric, promote=True)


def _train_config(pipe: Pipeline, result, version=None):
    """The TrainConfig for this run's data: the version just published (or the out file)."""
    t = pipe.train
    if pipe.dataset is not None:
        version = version or getattr(result, "version", None)
        if version is None:
            return None
        # out may name the version ("adapters/demo-{version}") so each refresh keeps its adapter
        return dataclasses.replace(t, dataset=version.ref, data=None, out=t.out.replace("{version}", version.version),
                                   store=t.store or pipe.dataset.store)
    return dataclasses.replace(t, data=pipe.out, dataset=None)
