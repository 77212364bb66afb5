"""`datagen run self-instruct --seeds seeds.jsonl --num 20 --out si.jsonl`."""

from __future__ import annotations

from pathlib import Path

import click

from .run_cmd import llm_config_from_flags, pop_llm_flags, run_options


def filter_config_from_flags(rouge=None, embed=None, no_embed=False, embed_model=None):
    """FilterConfig defaults with the shared --rouge/--embed/--no-embed/--embed-model flags."""
    from ..config import merge
    from ..filters import FilterConfig

    cfg = merge(FilterConfig(), rouge=rouge, embed=embed, embed_model=embed_model)
    if no_embed:
        cfg.embed = None
    cfg.__post_init__()
    return cfg


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
@run_options
def self_instruct_command(seeds, instances, batch, max_rounds, patience, temperature, single_turn, **kw):
    """Bootstrap new tasks from SEEDS with Self-Instruct: new instructions, classification
    or not, instances (output-first for classification), filtered inside the loop.

    --num counts tasks (instructions with at least one kept instance)."""
    from ..config import merge
    from ..generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
    from ..runner import RunSettings, execute, format_summary

    llm_cfg = llm_config_from_flags(**pop_llm_flags(kw))
    filter_cfg = filter_config_from_flags(kw.pop("rouge"), kw.pop("embed"), kw.pop("no_embed"),
                                          kw.pop("embed_model"))
    gen_cfg = merge(SelfInstructConfig(), seeds=list(seeds), lang=kw["lang"], instances=instances, batch=batch,
                    max_rounds=max_rounds, patience=patience, temperature=temperature, seed=kw["rng_seed"],
                    multi_turn=False if single_turn else None)
    gen_cfg.__post_init__()
    gen = SelfInstructGenerator(gen_cfg)
    settings = RunSettings(num=kw["num"] or 20, lang=gen.lang, seed=gen_cfg.seed, out=kw["out"],
                           rejects=kw["rejects"], dataset=kw["dataset"], store=kw["store"])
    result = execute(gen, settings, llm_cfg, filter_cfg, gen.lang)
    click.echo(format_summary(result))
    if settings.out and not settings.dataset:
        rejects = settings.rejects or str(Path(settings.out).with_name(Path(settings.out).stem + ".rejects.jsonl"))
        click.echo(f"  wrote: {settings.out} (rejects: {rejects})")


def register(run_group: click.Group) -> None:
    run_group.add_command(self_instruct_command)
