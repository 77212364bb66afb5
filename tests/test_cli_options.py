"""datagen/cli/options.py and the help it builds: one way of saying a default, paths
named PATH/FILE/DIR (never TEXT), and --num in each generator's own unit."""

import re

import click
from click.testing import CliRunner

from datagen.cli import main

PATHISH = re.compile(r"--(seeds|docs|triples|out|store|rejects|prices|cache-path|config|templates|data|"
                     r"adapter|eval|base-model|embed-model|lm-model|from-dataset|tokenizer)\b")


def commands(cmd=main, path=()):
    ctx = click.Context(cmd)
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                yield from commands(sub, path + (name,))
    else:
        yield list(path)


def test_every_help_says_defaults_one_way_and_names_paths():
    bad = []
    for path in commands():
        out = CliRunner().invoke(main, path + ["--help"], terminal_width=200).output
        for line in out.splitlines():
            if "(default" in line:
                bad.append((path, line.strip()))
            m = PATHISH.search(line)
            if m and re.search(re.escape(m.group(0)) + r"\s+TEXT\b", line):
                bad.append((path, line.strip()))
    assert not bad, bad


def test_num_help_names_the_generators_unit():
    si = " ".join(CliRunner().invoke(main, ["run", "self-instruct", "--help"], terminal_width=200).output.split())
    kg = " ".join(CliRunner().invoke(main, ["run", "self-kg", "--help"], terminal_width=200).output.split())
    assert "How many tasks to keep (each task keeps one record per instance). [default: 20]" in si
    assert "How many records to keep. [default: 20]" in kg
