"""`datagen run PIPELINE.yaml [flags]`: the flags of `datagen run` override the file."""

from __future__ import annotations

import json

import click

from .common import pop_llm_flags


def pipeline_command_for(path: str) -> click.Command:
    """A click command that runs the pipeline at `path` (RunGroup calls this)."""
    from .run_shared import run_options

    @click.command(path)
    @run_options
    @click.option("--no-train", is_flag=True, default=False, help="Skip the pipeline's train: stage.")
    @click.option("--dry-run", is_flag=True, default=False,
                  help="Print the resolved pipeline (flags applied, no secrets) and exit.")
    def command(no_train, dry_run, **kwargs):
        """Run a YAML pipeline: generate, filter, publish a dataset version, train."""
        from ..run import pipeline
        from ..run.runner import format_summary

        llm_flags = pop_llm_flags(kwargs)
        pipe = pipeline.load(path)
        pipe = pipeline.apply_overrides(
            pipe, num=kwargs["num"], lang=kwargs["lang"], seed=kwargs["rng_seed"], out=kwargs["out"],
            rejects=kwargs["rejects"], dataset=kwargs["dataset"], store=kwargs["store"],
            rouge=kwargs["rouge"], embed=kwargs["embed"], no_embed=kwargs["no_embed"],
            embed_model=kwargs["embed_model"],
            llm_flags=llm_flags if any(v not in (None, False, ()) for v in llm_flags.values()) else None,
        )
        if dry_run:
            click.echo(json.dumps(pipe.public(), ensure_ascii=False, indent=2))
            return
        res = pipeline.run(pipe, train=not no_train)
        click.echo(format_summary(res.run))
        for note in res.notes:
            click.echo(f"  note: {note}")
        if res.train_report:
            r = res.train_report
            shown = {k: r[k] for k in ("out", "adapter", "train_loss", "eval_loss", "steps", "seconds") if k in r}
            click.echo("  trained: " + ", ".join(f"{k} {v}" for k, v in shown.items()))

    return command
