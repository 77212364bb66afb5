"""`datagen filter IN.jsonl --out OUT.jsonl`: run the filter chain over any JSONL of records.

The filter flags (--rouge/--no-rouge, --embed/--no-embed, --min-len, --decontaminate, ...)
are FilterConfig's fields, as `datagen run` has them: declared once, in filters/__init__.py."""

from __future__ import annotations

import click

from .common import add_options


def filter_command() -> click.Command:
    from ..filters import FilterConfig
    from ..text import LANG_CHOICES
    from .options import OptionSet

    opts = OptionSet(FilterConfig, "filters")

    def callback(infile, out, rejects, against, config_path, lang, **kwargs):
        """Filter IN.jsonl in order: each record is checked by the rules and compared with the
        pool and with the records kept before it. Kept rows are written unchanged to --out."""
        from ..filters.run import filter_config, filter_file, format_funnel

        cfg = filter_config(config_path, opts.take(kwargs), opts.origin())
        report = filter_file(infile, out, rejects=rejects, against=list(against), cfg=cfg, lang=lang)
        click.echo(format_funnel(report))

    cmd = click.Command("filter", callback=callback, short_help="Filter a JSONL of records with the generators' chain.",
                        help=HELP, params=[
        click.Argument(["infile"], metavar="IN.jsonl", type=click.Path(dir_okay=False)),
        click.Option(["--out"], required=True, type=click.Path(dir_okay=False), help="Kept rows, unchanged."),
        click.Option(["--rejects"], type=click.Path(dir_okay=False), default=None,
                     help="Dropped rows with reason and most similar kept text [default: OUT.rejects.jsonl]."),
        click.Option(["--against"], multiple=True, type=click.Path(dir_okay=False),
                     help="Pool to deduplicate against (seeds, an earlier dataset); repeatable."),
        click.Option(["--config", "config_path"], type=click.Path(dir_okay=False), default=None,
                     help="YAML with filter settings (a `filters:` section or a plain mapping); flags win."),
        click.Option(["--lang"], type=click.Choice(LANG_CHOICES), default="auto", show_default=True,
                     help="Language rules (auto: detected from the instructions)."),
    ])
    return add_options(cmd, opts)


HELP = """Filter IN.jsonl in order: each record is checked by the rules and compared with the
pool and with the records kept before it. Kept rows are written unchanged to --out.

Deduplication compares instructions across tasks: records sharing an instruction are
the instances of one task (as Self-Instruct writes them) and are never duplicates of
each other; one is dropped when its instruction and input both repeat a kept one.

Every filter flag is a key of the YAML `filters:` section."""


def register(group: click.Group) -> None:
    group.add_command(filter_command())
