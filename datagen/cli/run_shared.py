"""Options and output every `datagen run <generator>` shares, declared once."""

from __future__ import annotations

import click

from .common import llm_options


def run_options(fn):
    """Options every generator run shares: size, language, output, filters, LLM."""
    opts = [
        click.option("--num", type=int, default=None, help="How many records to keep."),
        click.option("--lang", type=click.Choice(["auto", "en", "zh"]), default=None,
                     help="Prompt language (auto: detected from the inputs)."),
        click.option("--seed", "rng_seed", type=int, default=None, help="Random seed for sampling."),
        click.option("--out", type=click.Path(dir_okay=False), default=None,
                     help="Write kept records to this JSONL (rejects beside it)."),
        click.option("--rejects", type=click.Path(dir_okay=False), default=None, help="Rejects JSONL path."),
        click.option("--dataset", default=None, help="Publish a new version of this dataset in the store."),
        click.option("--store", type=click.Path(file_okay=False), default=None,
                     help="Dataset store root (default ./datasets)."),
        click.option("--rouge", type=float, default=None, help="Drop when ROUGE-L > this (default 0.7)."),
        click.option("--embed", type=float, default=None, help="Drop when embedding cosine > this."),
        click.option("--no-embed", is_flag=True, default=False, help="Skip embedding dedup."),
        click.option("--embed-model", default=None, help="sentence-transformers model folder."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return llm_options(fn)


RUN_FLAGS = ("num", "lang", "rng_seed", "out", "rejects", "dataset", "store", "rouge", "embed", "no_embed",
             "embed_model")


def pop_run_settings(kwargs: dict, **filter_defaults):
    """(RunSettings, FilterConfig) from the run_options flags, removed from `kwargs`.

    `filter_defaults` replace FilterConfig's defaults for one generator (e.g. no ROUGE
    dedup for template questions); flags given on the command line win over both."""
    from ..config import merge
    from ..filters import FilterConfig
    from ..run.job import RunSettings

    f = {k: kwargs.pop(k, None) for k in RUN_FLAGS}
    settings = RunSettings(num=f["num"] if f["num"] is not None else 20, lang=f["lang"] or "auto",
                           seed=f["rng_seed"] or 0, out=f["out"], rejects=f["rejects"],
                           dataset=f["dataset"], store=f["store"])
    filter_cfg = merge(FilterConfig(**filter_defaults), rouge=f["rouge"], embed=f["embed"],
                       embed_model=f["embed_model"])
    if f["no_embed"]:
        filter_cfg.embed = None
    filter_cfg.__post_init__()
    return settings, filter_cfg


def given(**kw) -> dict:
    """The keyword arguments that were given (not None): flags that override a config."""
    return {k: v for k, v in kw.items() if v is not None}


def echo_result(result, settings) -> None:
    """The run summary, and where the records went."""
    from pathlib import Path

    from ..run.runner import format_summary

    click.echo(format_summary(result))  # a published version is named in its notes
    if settings.out and not settings.dataset:
        out = Path(settings.out)
        rejects = settings.rejects or str(out.with_name(out.stem + ".rejects.jsonl"))
        click.echo(f"  wrote: {out} (rejects: {rejects})")
