"""`datagen run GENERATOR ...` and `datagen run PIPELINE.yaml`.

Each generator's command lives in its own module (run_self_instruct, run_self_qa, ...)
and shares the options and the execution path declared here.
"""

from __future__ import annotations

import click



class RunGroup(click.Group):
    """A group whose argument may also be a YAML pipeline file."""

    def get_command(self, ctx, cmd_name):
        if cmd_name.endswith((".yaml", ".yml")):
            from .pipeline_cmd import pipeline_command_for

            return pipeline_command_for(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx, args):
        cmd_name = args[0] if args else None
        if cmd_name and cmd_name.endswith((".yaml", ".yml")):
            return cmd_name, self.get_command(ctx, cmd_name), args[1:]
        return super().resolve_command(ctx, args)


@click.group("run", cls=RunGroup)
def run_group():
    """Generate a dataset: `datagen run self-instruct --seeds S.jsonl`, or run a pipeline
    YAML: `datagen run pipelines/refresh-self-instruct.yaml`."""


def register(group: click.Group) -> None:
    from . import run_self_instruct, run_self_kg, run_self_qa

    for mod in (run_self_instruct, run_self_qa, run_self_kg):
        mod.register(run_group)
    group.add_command(run_group)


__all__ = ["run_group", "register"]
