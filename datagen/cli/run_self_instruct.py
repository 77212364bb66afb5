"""`datagen run self-instruct --seeds seeds.jsonl --num 20 --out si.jsonl`."""

from __future__ import annotations

import click

from .common import llm_config_from_flags, pop_llm_flags
from .run_shared import echo_result, pop_run_settings, run_options


@click.command("self-instruct")
@click.option("--seeds", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Seed tasks (Self-Instruct JSONL, Alpaca, messages or .txt); repeat for several files.")
@click.option("--instances", type=int, default=None, help="Instances per instruction, at most (default 3).")
@click.option("--batch", type=int, default=None, help="Bootstrap prompts sent per round (default 4).")
@click.option("--max-rounds", type=int, default=None, help="Stop after this many rounds.")
@click.option("--patience", type=int, default=None,
              help="Stop after this many rounds in a row without a new task (default 5).")
@click.option("--temperature", type=float, default=None, help="Sampling temperature for new instructions.")
@click.option("--single-turn", is_flag=True, default=False,
              help="Make single-turn data even from multi-turn seeds.")
@click.option("--strict-rounds", is_flag=True, default=False,
              help="One round at a time (no pipelining): each round sees every earlier round's tasks.")
@run_options
def self_instruct_command(seeds, instances, batch, max_rounds, patience, temperature, single_turn, strict_rounds,
                          **kw):
    """Bootstrap new tasks from SEEDS with Self-Instruct: new instructions, classification
    or not, instances (output-first for classification), filtered inside the loop.

    --num counts tasks (instructions with at least one kept instance)."""
    from ..config import merge
    from ..generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
    from ..run.job import execute

    llm_cfg = llm_config_from_flags(**pop_llm_flags(kw))
    settings, filter_cfg = pop_run_settings(kw)
    gen_cfg = merge(SelfInstructConfig(), seeds=list(seeds), lang=settings.lang, instances=instances, batch=batch,
                    max_rounds=max_rounds, patience=patience, temperature=temperature, seed=settings.seed,
                    multi_turn=False if single_turn else None, strict_rounds=True if strict_rounds else None)
    gen_cfg.__post_init__()
    gen = SelfInstructGenerator(gen_cfg)
    settings.lang = gen.lang
    result = execute(gen, settings, llm_cfg, filter_cfg, gen.lang)
    echo_result(result, settings)


def register(run_group: click.Group) -> None:
    run_group.add_command(self_instruct_command)
