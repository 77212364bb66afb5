"""`datagen run self-qa --docs PATH`: instruction data from documents (Self-QA)."""

from __future__ import annotations

import click

from .common import llm_config_from_flags, pop_llm_flags
from .run_cmd import run_options

RUN_FLAGS = ("num", "lang", "rng_seed", "out", "rejects", "dataset", "store", "rouge", "embed", "no_embed",
             "embed_model")


def pop_run_settings(kwargs: dict, rouge_default: float | None = 0.7, embed_default: float | None = 0.95):
    """(RunSettings, FilterConfig) from the run_options flags; flags given win over defaults."""
    from ..filters import FilterConfig
    from ..runner import RunSettings

    f = {k: kwargs.pop(k, None) for k in RUN_FLAGS}
    settings = RunSettings(num=f["num"] if f["num"] is not None else 20, lang=f["lang"] or "auto",
                           seed=f["rng_seed"] or 0, out=f["out"], rejects=f["rejects"],
                           dataset=f["dataset"], store=f["store"])
    embed = None if f["no_embed"] else (f["embed"] if f["embed"] is not None else embed_default)
    filter_cfg = FilterConfig(rouge=f["rouge"] if f["rouge"] is not None else rouge_default, embed=embed,
                              embed_model=f["embed_model"])
    return settings, filter_cfg


def given(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


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
    from ..runner import execute, format_summary

    llm_cfg = llm_config_from_flags(**pop_llm_flags(kwargs))
    settings, filter_cfg = pop_run_settings(kwargs)
    cfg = from_dict(SelfQAConfig, given(docs=docs, text_field=text_field, chunk_chars=chunk_chars,
                                        overlap=overlap, questions_per_chunk=questions_per_chunk,
                                        grounding=grounding, max_tokens=max_tokens,
                                        seed=settings.seed), "self-qa")
    gen = SelfQAGenerator(cfg)
    # one language for prompts and the filter chain, so questions are not lost as "wrong_lang"
    lang = settings.lang if settings.lang != "auto" else gen.dominant_lang()
    cfg.lang = lang
    result = execute(gen, settings, llm_cfg, filter_cfg, lang)
    click.echo(format_summary(result))


def register(run_group: click.Group) -> None:
    run_group.add_command(self_qa_command)
