"""`datagen score NAME --scorer judge|ifd|perplexity` and `datagen select NAME --by … --min/--budget`.
Their options come from ScoreConfig, SelectConfig and LLMConfig (the judge's model)."""

from __future__ import annotations

import click

from ..quality import ScoreConfig
from ..quality.select import SelectConfig
from .common import add_options, llm_config_from, llm_option_set
from .datasets_cmd import STORE_OPTION
from .options import OptionSet

SCORE_OPTIONS = OptionSet(ScoreConfig, "score", required=("scorer",))
SELECT_OPTIONS = OptionSet(SelectConfig, "select", required=("by",))
LLM_OPTIONS = llm_option_set()
EXECUTOR_FIELDS = ("executor", "ray_address", "ray_workers")


def _executor_option_set() -> OptionSet:
    """--executor/--ray-address/--ray-workers, declared once in RunSettings."""
    import dataclasses

    from ..run.job import RunSettings

    return OptionSet(RunSettings, "exec",
                     skip=tuple(f.name for f in dataclasses.fields(RunSettings) if f.name not in EXECUTOR_FIELDS))


EXECUTOR_OPTIONS = _executor_option_set()


def _config(cls, opts: OptionSet, kwargs: dict):
    from ..config import check_values, from_dict

    given = check_values(cls, opts.take(kwargs), origin=opts.origin())
    return given, from_dict(cls, given, origin=opts.origin())


@click.command("score")
@click.argument("ref")
@click.option("--judge-base-url", "judge_base_url", multiple=True,
              help="Judge endpoint, when the judge is not the generator's model (repeatable; overrides --base-url).")
@click.option("--judge-model", default=None, metavar="MODEL", help="Judge model name (overrides --model).")
@STORE_OPTION
def score_command(ref, judge_base_url, judge_model, store, **kwargs):
    """Score every record of dataset REF (NAME or NAME@vN) and publish the scored records
    as a new version; each score lands in meta.scores.<scorer>."""
    from ..llm import make_client
    from ..quality.stage import score_version
    from ..run.executor import make_executor
    from ..run.job import RunSettings
    from ..store import DatasetStore

    _, cfg = _config(ScoreConfig, SCORE_OPTIONS, kwargs)
    _, settings = _config(RunSettings, EXECUTOR_OPTIONS, kwargs)
    judge_cfg = llm_config_from(LLM_OPTIONS, kwargs)
    client = None
    if cfg.scorer == "judge":
        from ..llm import with_overrides

        judge_cfg = with_overrides(judge_cfg, base_url=list(judge_base_url) or None, model=judge_model)
    executor = make_executor(settings, judge_cfg)  # a missing ray extra fails before any call
    if cfg.scorer == "judge":
        client = make_client(judge_cfg)
    try:
        version, info = score_version(DatasetStore(store), ref, cfg, client=client,
                                      judge_cfg=judge_cfg if client is not None else None, executor=executor)
    finally:
        if client is not None:
            client.close()
    errors = ", ".join(f"{n} {e}" for e, n in info["errors"].items())
    click.echo(f"scored {info['scored']} records with {cfg.scorer}"
               + (f" ({info['failed']} failed: {errors})" if info["failed"] else "")
               + (f" on Ray ({info['blocks']} blocks)" if info["executor"] == "ray" else "")
               + f"; published {version.ref}")


@click.command("select")
@click.argument("ref")
@STORE_OPTION
def select_command(ref, store, **kwargs):
    """Publish the best records of REF by one score as a new version; the rest go to its
    rejects (below_threshold, budget, not_diverse, or the scorer's failure)."""
    import dataclasses

    from ..quality.stage import select_version
    from ..store import DatasetStore

    given, cfg = _config(SelectConfig, SELECT_OPTIONS, kwargs)
    if "diversity" not in given and cfg.budget is not None:
        cfg = dataclasses.replace(cfg, diversity=0.9)  # DEITA's threshold, for budget selection
    version, info = select_version(DatasetStore(store), ref, cfg)
    c = info["counts"]
    dropped = ", ".join(f"{n} {k}" for k, n in c.items() if k not in ("candidates", "selected") and n)
    where = (f"published {version.ref}" if version is not None
             else "nothing published (--allow-empty publishes an empty version)")
    click.echo(f"selected {c['selected']} of {c['candidates']} by {cfg.by}"
               + (f" (dropped {dropped})" if dropped else "") + f"; {where}")


add_options(score_command, SCORE_OPTIONS, EXECUTOR_OPTIONS, LLM_OPTIONS)
add_options(select_command, SELECT_OPTIONS)


def register(group: click.Group) -> None:
    group.add_command(score_command)
    group.add_command(select_command)
