"""`datagen run self-qa --docs PATH`: instruction data from documents (Self-QA)."""

from __future__ import annotations

import click

from .common import llm_config_from_flags, pop_llm_flags
from .run_shared import echo_result, given, pop_run_settings, run_options

@click.command("self-qa")
@click.option("--docs", required=True, type=click.Path(),
              help="A document or a folder of them (.txt .md .jsonl .json .csv .tsv), read recursively.")
@click.option("--text-field", default=None, help="Text field of JSONL documents (default: text).")
@click.option("--chunk-chars", type=int, default=None, help="Max characters per chunk (default 1000).")
@click.option("--overlap", type=int, default=None, help="Characters shared by neighbouring chunks (default 150).")
@click.option("--questions", "questions_per_chunk", type=int, default=None,
              help="Questions asked per chunk (default 5).")
@click.option("--grounding", type=float, default=None,
              help="Drop answers whose share of words (Chinese: character pairs) found in the chunk is "
                   "below this (default 0.5).")
@click.option("--max-tokens", type=int, default=None, help="Max tokens per model reply.")
@run_options
def self_qa_command(docs, text_field, chunk_chars, overlap, questions_per_chunk, grounding, max_tokens,
                    **kwargs):
    """Ask questions about chunks of documents and answer them from the chunk (Self-QA)."""
    from ..config import from_dict
    from ..generators.self_qa import SelfQAConfig, SelfQAGenerator
    from ..generators.base import run_language
    from ..run.job import execute

    llm_cfg = llm_config_from_flags(**pop_llm_flags(kwargs))
    settings, filter_cfg = pop_run_settings(kwargs)
    cfg = from_dict(SelfQAConfig, given(docs=docs, text_field=text_field, chunk_chars=chunk_chars,
                                        overlap=overlap, questions_per_chunk=questions_per_chunk,
                                        grounding=grounding, max_tokens=max_tokens,
                                        seed=settings.seed), "self-qa")
    gen = SelfQAGenerator(cfg)
    settings.lang = run_language(gen, settings.lang)
    result = execute(gen, settings, llm_cfg, filter_cfg, settings.lang)
    echo_result(result, settings)


def register(run_group: click.Group) -> None:
    run_group.add_command(self_qa_command)
