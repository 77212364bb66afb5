"""Post-publish stages of a pipeline: each takes the dataset version the previous one
left and leaves the version the next one reads (`version -> version`), as datatrove pipes
a list of steps.

A pipeline's sections after `dataset:` name its steps; they run in STEPS order, whatever
the order in the file. A step's section is its config dataclass (unknown keys rejected by
name, like every section); `many = True` lets the section be a list (one step each).

Adding a stage is one class and one registry line:

    class PrefsStep(Step):
        section = "prefs"
        config = "datagen.prefs:PrefsConfig"      # "module:Class", imported when used
        needs_dataset = True                      # it reads a published version

        def run(self, state: StepState) -> None:
            if state.version is None:
                return
            state.version, info = make_preferences(...)   # the next step reads this version
            state.note(f"...")

    STEPS["prefs"] = "datagen.run.steps:PrefsStep"   # after select, before train

`requires` names sections it cannot run without (eval: train), `check(pipe, origin)` may
refuse a pipeline once its section is parsed (score: a bad judge_llm). Steps run while the pipeline holds the dataset's lock (`state.lock`).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..registry import lookup

if TYPE_CHECKING:
    from ..store import DatasetLock, DatasetVersion


@dataclass
class StepState:
    """What the steps of one pipeline run share: the version in hand and the results."""

    pipe: Any  # run/pipeline.Pipeline (which imports this module)
    out: Any  # run/pipeline.PipelineResult: notes, train_report, eval_report, gate
    version: DatasetVersion | None  # what the next step reads (None: nothing was published)
    lock: DatasetLock | None = None
    progress: bool = True
    train: bool = True  # False: --no-train (skips the train step and what needs it)
    trained: Any = None  # the TrainConfig the train step ran (eval reads its adapter)
    extra: dict[str, Any] = field(default_factory=dict)  # anything a step leaves for a later one

    def note(self, text: str) -> None:
        self.out.notes.append(text)


class Step:
    """A post-publish stage: `run(state)` reads `state.version` and leaves the next one."""

    section: ClassVar[str]
    config: ClassVar[str | type]  # the section's dataclass, or "module:Class" to import it when used
    many: ClassVar[bool] = False  # the section may be a list of configs, one step each
    needs_dataset: ClassVar[bool] = False  # it reads a published version: a dataset: section
    requires: ClassVar[dict[str, str]] = {}  # sections it needs -> the error without them

    def __init__(self, cfg: Any):
        self.cfg = cfg

    @classmethod
    def config_class(cls) -> type:
        if not isinstance(cls.config, str):
            return cls.config
        module, _, attr = cls.config.partition(":")
        return getattr(importlib.import_module(module), attr)

    @classmethod
    def check(cls, pipe, origin) -> None:
        """Refuse a pipeline this step cannot run in (ConfigError naming the key)."""

    def run(self, state: StepState) -> None:
        raise NotImplementedError


class ScoreStep(Step):
    """`score:` (one or a list): a new version with each record's score in meta.scores."""

    section, config, many, needs_dataset = "score", "datagen.quality:ScoreConfig", True, True

    @classmethod
    def check(cls, pipe, origin) -> None:
        from ..config import from_dict
        from ..llm import LLMConfig

        sorigin = origin.child("score")
        for cfg in pipe.stage_configs("score"):
            if cfg.judge_llm is not None:
                if not isinstance(cfg.judge_llm, dict):
                    raise sorigin.error("score.judge_llm", "must be a mapping (an llm: section)")
                from_dict(LLMConfig, cfg.judge_llm, "score.judge_llm", origin=sorigin)

    def run(self, state: StepState) -> None:
        if state.version is None:
            return
        from ..config import from_dict
        from ..llm import LLMConfig, make_client
        from ..quality.stage import score_version

        cfg, client, judge_cfg = self.cfg, None, None
        if cfg.scorer == "judge":
            judge_cfg = from_dict(LLMConfig, cfg.judge_llm, "score.judge_llm") if cfg.judge_llm else state.pipe.llm
            client = make_client(judge_cfg)
        try:
            state.version, info = score_version(state.pipe.store(), state.version.ref, cfg, client=client,
                                                judge_cfg=judge_cfg, lock=state.lock)
        finally:
            if client is not None:
                client.close()
        state.note(f"scored {state.version.ref} with {cfg.scorer}: {info['scored']} scored, {info['failed']} failed")


class SelectStep(Step):
    """`select:`: a new version of the records whose scores pass, within a budget."""

    section, config, needs_dataset = "select", "datagen.quality.select:SelectConfig", True

    def run(self, state: StepState) -> None:
        if state.version is None:
            return
        from ..quality.stage import select_version

        state.version, info = select_version(state.pipe.store(), state.version.ref, self.cfg, lock=state.lock)
        state.note(f"selected {info['counts']['selected']} of {info['counts']['candidates']} "
                   f"by {self.cfg.by}: {state.version.ref if state.version else 'nothing published'}")


class TrainStep(Step):
    """`train:`: a LoRA adapter on the version in hand (or the out file); `--no-train` skips it."""

    section, config = "train", "datagen.train.config:TrainConfig"

    def run(self, state: StepState) -> None:
        if not state.train:
            return
        pipe, t = state.pipe, self.cfg
        if pipe.dataset is not None:
            if state.version is None:
                state.note("training skipped: no new dataset version")
                return
            # out may name the version ("adapters/demo-{version}") so each refresh keeps its adapter
            tcfg = dataclasses.replace(t, dataset=state.version.ref, data=None,
                                       out=t.out.replace("{version}", state.version.version),
                                       store=t.store or pipe.dataset.store)
        else:
            tcfg = dataclasses.replace(t, data=pipe.out, dataset=None)
        from ..extras import require_extra
        from ..train import train as train_fn

        require_extra("train", f"{pipe.source}: the train: stage")
        state.out.train_report = train_fn(tcfg, progress=state.progress)
        state.trained = tcfg


class PrefsStep(Step):
    """`prefs:`: preference pairs from the version in hand (datagen/prefs, docs/preferences.md),
    published as a version of NAME-prefs (or `into`), which the next step reads."""

    section, config, needs_dataset = "prefs", "datagen.prefs:PrefsConfig", True

    def run(self, state: StepState) -> None:
        if state.version is None:
            return
        from ..prefs.stage import make_clients, make_preferences

        responders, judge, clients = make_clients(self.cfg, state.pipe.llm)
        try:
            state.version, info = make_preferences(state.pipe.store(), state.version.ref, self.cfg, responders, judge)
        finally:
            for c in clients:
                c.close()
        state.note(f"prefs: {info['pairs']} pairs from {info['source']}: {state.version.ref}")


class DpoStep(Step):
    """`dpo:` (TrainConfig keys): DPO on the prefs step's pairs, from the train step's SFT
    adapter when there is one (else `adapter`, else the base); eval then compares both."""

    section, config = "dpo", "datagen.train.config:TrainConfig"
    requires = {"prefs": "the dpo stage trains on the prefs stage's pairs: add a prefs: section"}

    def run(self, state: StepState) -> None:
        if not state.train:
            return
        if state.version is None:
            state.note("dpo skipped: no preference version")
            return
        t, sft = self.cfg, state.trained
        tcfg = dataclasses.replace(t, method="dpo", dataset=state.version.ref, data=None,
                                   out=t.out.replace("{version}", state.version.version),
                                   store=t.store or state.pipe.dataset.store,
                                   adapter=t.adapter or (sft.out if sft is not None else None))
        from ..extras import require_extra
        from ..train import train as train_fn

        require_extra("train", f"{state.pipe.source}: the dpo: stage")
        report = train_fn(tcfg, progress=state.progress)
        state.extra["dpo_report"] = report
        if sft is not None:
            state.extra["adapters_before"] = [sft.out]  # eval compares the SFT adapter too
        state.trained = tcfg
        if report:
            margin = ((report.get("dpo") or {}).get("eval_after") or {}).get("rewards/margins")
            state.note(f"dpo: {tcfg.out} from {tcfg.adapter or 'the base'} on {tcfg.dataset}"
                       + (f", eval reward margin {margin:.3f}" if margin is not None else ""))


class EvalStep(Step):
    """`eval:`: the adapter just trained against its base; with promote_if, the dataset's
    `good` tag follows it when it beats the last evaluated version."""

    section, config = "eval", "datagen.eval.config:EvalConfig"
    requires = {"train": "the eval stage evaluates the train stage's adapter: add a train: section"}

    def run(self, state: StepState) -> None:
        tcfg = state.trained
        if tcfg is None:
            return
        from ..eval import run_eval
        from ..eval.gate import gate_version
        from ..store import DatasetStore

        ecfg = dataclasses.replace(self.cfg, adapters=[*state.extra.get("adapters_before", []), tcfg.out],
                                   store=self.cfg.store or tcfg.store)
        state.out.eval_report = run_eval(ecfg, progress=state.progress)
        if tcfg.dataset and ecfg.promote_if:
            name, _, version = tcfg.dataset.partition("@")
            state.out.gate = gate_version(DatasetStore(ecfg.store), name, version, ecfg.promote_metric, promote=True)


# The post-publish stages, in the order they run: a section name -> "module:Class".
STEPS: dict[str, str | type[Step]] = {
    "score": "datagen.run.steps:ScoreStep",
    "select": "datagen.run.steps:SelectStep",
    "train": "datagen.run.steps:TrainStep",
    "prefs": "datagen.run.steps:PrefsStep",
    "dpo": "datagen.run.steps:DpoStep",
    "eval": "datagen.run.steps:EvalStep",
}


def get_step(section: str) -> type[Step]:
    """The Step class registered for `section`."""
    return lookup(STEPS, section, "pipeline stage")
