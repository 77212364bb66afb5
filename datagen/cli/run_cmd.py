"""`datagen run GENERATOR ...` and `datagen run PIPELINE.yaml`.

There is no module per generator: `datagen run NAME` is built, when asked for, from
`datagen.generators.REGISTRY` — the generator's config dataclass gives its flags (field
metadata: help, flag, choices), its `required` fields are required options, and the run,
filter and LLM options are shared. Registering a generator is all it takes to get a
command.
"""

from __future__ import annotations

import click

from .common import add_options
from .run_shared import RunOptions, echo_result, filter_config, run_settings

# fields every generator has that the shared run options set (--lang, --seed)
_SHARED_FIELDS = ("lang", "seed")


def generator_command(name: str, gen_cls) -> click.Command:
    """The `datagen run NAME` command of generator class `gen_cls`."""
    from .options import OptionSet

    gen_opts = OptionSet(gen_cls.config_cls, "gen", skip=_SHARED_FIELDS, required=tuple(gen_cls.required))
    shared = RunOptions()
    _say_what_num_counts(shared, gen_cls.num_counts)

    def callback(**kwargs):
        run_generator_flags(name, gen_cls, gen_opts, shared, kwargs)

    summary = gen_cls.summary or f"Run the {name} generator."
    cmd = click.Command(name, callback=callback, short_help=summary,
                        help=f"{summary}\n\nEvery generator flag is a key of the YAML `generator:` section.")
    return add_options(cmd, gen_opts, *shared.sets)


def _say_what_num_counts(shared: RunOptions, unit: str) -> None:
    """--num's help in the generator's own unit (Self-Instruct counts tasks, each kept
    with one record per instance; the others count records)."""
    for p in shared.run.params:
        if p.name == "run__num":
            per = " (each task keeps one record per instance)" if unit == "tasks" else ""
            p.help = p.help.replace("How many records to keep.", f"How many {unit} to keep{per}.")


def run_generator_flags(name, gen_cls, gen_opts, shared: RunOptions, kwargs: dict) -> None:
    """Build the configs from the flags, run the generator, print the summary."""
    from ..config import Origin, from_dict
    from ..run import job
    from .common import llm_config_from

    llm_cfg = llm_config_from(shared.llm, kwargs)
    settings, given_run = run_settings(shared, kwargs)
    values = gen_opts.take(kwargs)
    values["seed"] = settings.seed
    if "lang" in given_run:
        values["lang"] = settings.lang
    flags = {**gen_opts.flags, "seed": "--seed", "lang": "--lang"}
    cfg = from_dict(gen_cls.config_cls, values, "", origin=Origin(flags=flags))
    filter_cfg = filter_config(shared, kwargs, cfg.filter_defaults())
    from ..run.executor import make_executor

    executor = make_executor(settings, llm_cfg)  # before the generator: it may convert its documents there
    gen = job.make_generator(gen_cls, cfg, executor)
    result = job.execute(job.Run(gen, settings, llm_cfg, filter_cfg, executor=executor))
    echo_result(result, settings)


def _is_pipeline(name: str | None) -> bool:
    return bool(name) and name.endswith((".yaml", ".yml"))


class RunGroup(click.Group):
    """`datagen run`: a registered generator's name, or a YAML pipeline file. Commands
    are built from the registry when asked for, so entries added after import count."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._built: dict[str, tuple[object, click.Command]] = {}

    def list_commands(self, ctx):
        from ..generators import REGISTRY

        return list(dict.fromkeys([*REGISTRY, *self.commands]))

    def get_command(self, ctx, cmd_name):
        if _is_pipeline(cmd_name):
            from .pipeline_cmd import pipeline_command_for

            return pipeline_command_for(cmd_name)
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        from ..generators import REGISTRY, get_generator

        entry = REGISTRY.get(cmd_name)
        if entry is None:
            return None
        built = self._built.get(cmd_name)
        if built is None or built[0] is not entry:  # re-registered: build it again
            built = (entry, generator_command(cmd_name, get_generator(cmd_name)))
            self._built[cmd_name] = built
        return built[1]

    def resolve_command(self, ctx, args):
        cmd_name = args[0] if args else None
        if _is_pipeline(cmd_name):
            return cmd_name, self.get_command(ctx, cmd_name), args[1:]
        if cmd_name and not cmd_name.startswith("-") and self.get_command(ctx, cmd_name) is None:
            import difflib

            names = self.list_commands(ctx)
            near = difflib.get_close_matches(cmd_name, names, n=1, cutoff=0.75)
            raise click.UsageError(f"unknown generator '{cmd_name}'" + (f" (did you mean {near[0]}?)" if near else "")
                                   + f"; choose from {', '.join(names)}, or a pipeline .yaml")
        return super().resolve_command(ctx, args)


@click.group("run", cls=RunGroup)
def run_group():
    """Generate a dataset: `datagen run self-instruct --seeds S.jsonl`, or run a pipeline
    YAML: `datagen run pipelines/refresh-self-instruct.yaml`."""


def register(group: click.Group) -> None:
    group.add_command(run_group)


__all__ = ["run_group", "register", "generator_command", "RunGroup"]
