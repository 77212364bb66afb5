"""`datagen prefs REF --responses 4 [--model M ...] [--judge-model J]`: preference pairs
from a version. Options come from PrefsConfig and LLMConfig (less its --model, which
PrefsConfig repeats for several responders)."""

from __future__ import annotations

import click

from ..prefs import PrefsConfig
from .common import add_options, llm_config_from
from .datasets_cmd import STORE_OPTION
from .options import OptionSet

PREFS_OPTIONS = OptionSet(PrefsConfig, "prefs")


def _llm_options() -> OptionSet:
    from ..llm import LLMConfig

    return OptionSet(LLMConfig, "llm", skip=("model",))


LLM_OPTIONS = _llm_options()


@click.command("prefs")
@click.argument("ref")
@STORE_OPTION
def prefs_command(ref, store, **kwargs):
    """Sample several responses per instruction of dataset REF (NAME or NAME@vN), judge
    them pairwise in both orders, and publish the consistent (chosen, rejected) pairs as a
    version of NAME-prefs (or --into). See docs/preferences.md."""
    from ..config import check_values, from_dict
    from ..prefs.stage import make_clients, make_preferences
    from ..store import DatasetStore

    cfg = from_dict(PrefsConfig, check_values(PrefsConfig, PREFS_OPTIONS.take(kwargs), origin=PREFS_OPTIONS.origin()),
                    origin=PREFS_OPTIONS.origin())
    responders, judge, clients = make_clients(cfg, llm_config_from(LLM_OPTIONS, kwargs))
    try:
        version, info = make_preferences(DatasetStore(store), ref, cfg, responders, judge)
    finally:
        for c in clients:
            c.close()
    f = version.manifest.get("funnel") or {}
    dropped = ", ".join(f"{n} {r}" for r, n in (f.get("dropped") or {}).items())
    click.echo(f"prefs: {info['pairs']} pairs from {f.get('candidates', 0)} instructions of {info['source']}"
               + (f" (dropped: {dropped})" if dropped else "") + f"; published {version.ref}")


add_options(prefs_command, PREFS_OPTIONS, LLM_OPTIONS)


def register(group: click.Group) -> None:
    group.add_command(prefs_command)
