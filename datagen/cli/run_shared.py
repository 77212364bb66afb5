"""What every `datagen run <generator>` and `datagen run PIPELINE.yaml` shares: the run,
filter and LLM options (generated from RunSettings, FilterConfig and LLMConfig) and the
summary printed at the end."""

from __future__ import annotations

import click

from .common import llm_option_set
from .options import OptionSet


class RunOptions:
    """The shared option sets of a run command; `take` splits a callback's kwargs."""

    def __init__(self):
        from ..filters import FilterConfig
        from ..run.job import RunSettings

        self.run = OptionSet(RunSettings, "run")
        self.filters = OptionSet(FilterConfig, "filters")
        self.llm = llm_option_set()
        self.sets = [self.run, self.filters, self.llm]

    @property
    def params(self) -> list[click.Parameter]:
        return [p for s in self.sets for p in s.params]


def run_settings(opts: RunOptions, kwargs: dict):
    """RunSettings from the given run flags (popped from kwargs), checked by flag name."""
    from ..config import override
    from ..run.job import RunSettings

    given = opts.run.take(kwargs)
    return override(RunSettings(), given, opts.run.origin()), given


def filter_config(opts: RunOptions, kwargs: dict, defaults: dict | None = None):
    """FilterConfig: `defaults` (a generator's, e.g. no ROUGE for template questions)
    replace the class defaults; the given flags win over both."""
    from ..config import override
    from ..filters import FilterConfig

    return override(FilterConfig(**(defaults or {})), opts.filters.take(kwargs), opts.filters.origin())


def echo_result(result, settings) -> None:
    """The run summary, and where the records went."""
    from pathlib import Path

    from ..run.runner import format_summary

    click.echo(format_summary(result))  # a published version is named in its notes
    if settings.out and not settings.dry_run:
        out = Path(settings.out)
        rejects = settings.rejects or str(out.with_name(out.stem + ".rejects.jsonl"))
        click.echo(f"  wrote: {out} (rejects: {rejects})")
