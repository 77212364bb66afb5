"""Options shared by several commands, generated once from their config dataclasses."""

from __future__ import annotations

import click

from .options import OptionSet


def llm_option_set() -> OptionSet:
    """--backend/--base-url/--model/... (LLMConfig's fields) for every command that talks to an LLM."""
    from ..llm import LLMConfig

    return OptionSet(LLMConfig, "llm")


def add_options(cmd: click.Command, *sets: OptionSet) -> click.Command:
    """Append the sets' options to a click command (after its own)."""
    from .options import check_unique

    for s in sets:
        cmd.params.extend(s.params)
    check_unique(list(sets))
    return cmd


def llm_config_from(opts: OptionSet, kwargs: dict, base=None):
    """The LLMConfig: `base` (YAML, or the defaults) with the given LLM flags laid over it;
    the flags are popped from `kwargs` and an error names the flag."""
    from ..config import check_values
    from ..llm import LLMConfig, with_overrides

    given = check_values(LLMConfig, opts.take(kwargs), origin=opts.origin())
    return with_overrides(base, **given)
