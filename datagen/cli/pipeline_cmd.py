"""`datagen run PIPELINE.yaml [flags]`: the flags of `datagen run` override the file."""

from __future__ import annotations

import json

import click

from .common import add_options


def pipeline_command_for(path: str) -> click.Command:
    """A click command that runs the pipeline at `path` (RunGroup calls this)."""
    from .run_shared import RunOptions

    shared = RunOptions()

    @click.command(path)
    @click.option("--no-train", is_flag=True, default=False, help="Skip the pipeline's train: stage.")
    def command(no_train, **kwargs):
        """Run a YAML pipeline: generate, filter, publish a dataset version, train."""
        from ..config import check_values
        from ..filters import FilterConfig
        from ..llm import LLMConfig
        from ..run import pipeline
        from ..run.job import RunSettings
        from ..run.runner import format_summary

        over = {
            "run": check_values(RunSettings, shared.run.take(kwargs), origin=shared.run.origin()),
            "filters": check_values(FilterConfig, shared.filters.take(kwargs), origin=shared.filters.origin()),
            "llm": check_values(LLMConfig, shared.llm.take(kwargs), origin=shared.llm.origin()),
        }
        pipe = pipeline.apply_overrides(pipeline.load(path), **over)
        if pipe.cost.get("dry_run"):  # the resolved pipeline (no secrets), then the cost estimate
            click.echo(json.dumps(pipe.public(), ensure_ascii=False, indent=2))
        res = pipeline.run(pipe, train=not no_train)
        click.echo(format_summary(res.run))
        for note in res.notes:
            click.echo(f"  note: {note}")
        if res.train_report:
            r = res.train_report
            shown = {k: r[k] for k in ("out", "adapter", "train_loss", "eval_loss", "steps", "seconds") if k in r}
            click.echo("  trained: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        if res.eval_report:
            from ..eval.report import format_report

            click.echo(format_report(res.eval_report))
        if res.gate:
            click.echo(f"  gate: {res.gate['reason']}" + ("; promoted to good" if res.gate["promoted"] else ""))

    return add_options(command, *shared.sets)
