"""`datagen run self-kg --triples PATH`: question/answer pairs from a knowledge graph."""

from __future__ import annotations

import click

from .common import llm_config_from_flags, pop_llm_flags
from .run_shared import echo_result, given, pop_run_settings, run_options


@click.command("self-kg")
@click.option("--triples", required=True, type=click.Path(),
              help="Triples: JSONL/JSON {head, relation, tail}, CSV/TSV with those columns, or "
                   "HuaTuo-style entity records {\"中心词\": ..., relation: [values]}; or a folder of them.")
@click.option("--mode", type=click.Choice(["llm", "template"]), default=None,
              help="llm: the model writes each pair (default); template: relation templates, no model.")
@click.option("--max-facts", type=int, default=None, help="Relations per question in llm mode: 1..N, each with all its values (default 3).")
@click.option("--templates", type=click.Path(dir_okay=False), default=None,
              help="Relation templates file (relation | question | answer) for template mode.")
@click.option("--max-tokens", type=int, default=None, help="Max tokens per model reply.")
@run_options
def self_kg_command(triples, mode, max_facts, templates, max_tokens, **kwargs):
    """Turn knowledge-graph facts into questions and answers (Self-KG)."""
    from ..config import from_dict
    from ..generators.self_kg import SelfKGConfig, SelfKGGenerator
    from ..generators.base import run_language
    from ..run.job import execute

    llm_cfg = llm_config_from_flags(**pop_llm_flags(kwargs))
    # template questions differ in one entity name, so ROUGE/embedding dedup would keep one
    # per template: off in template mode unless asked for (exact duplicates still go)
    dedup = dict(rouge=None, embed=None) if mode == "template" else {}
    settings, filter_cfg = pop_run_settings(kwargs, **dedup)
    cfg = from_dict(SelfKGConfig, given(triples=triples, mode=mode, max_facts=max_facts,
                                        templates=templates, max_tokens=max_tokens,
                                        seed=settings.seed), "self-kg")
    gen = SelfKGGenerator(cfg)
    settings.lang = run_language(gen, settings.lang)
    result = execute(gen, settings, llm_cfg, filter_cfg, settings.lang)
    echo_result(result, settings)


def register(run_group: click.Group) -> None:
    run_group.add_command(self_kg_command)
