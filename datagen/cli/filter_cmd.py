"""`datagen filter IN.jsonl --out OUT.jsonl`: run the filter chain over any JSONL of records."""

from __future__ import annotations

import click


@click.command("filter")
@click.argument("infile", metavar="IN.jsonl", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Kept rows, unchanged.")
@click.option("--rejects", type=click.Path(dir_okay=False), default=None,
              help="Dropped rows with reason and most similar kept text [default: OUT.rejects.jsonl].")
@click.option("--against", multiple=True, type=click.Path(dir_okay=False),
              help="Pool to deduplicate against (seeds, an earlier dataset); repeatable.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML with filter settings (a `filters:` section or a plain mapping).")
@click.option("--lang", type=click.Choice(["auto", "en", "zh"]), default="auto", show_default=True,
              help="Language rules (auto: detected from the instructions).")
@click.option("--rouge", type=float, default=None, help="Drop when ROUGE-L > this [default: 0.7].")
@click.option("--no-rouge", is_flag=True, default=False, help="Skip ROUGE-L dedup.")
@click.option("--embed", type=float, default=None, help="Drop when embedding cosine > this [default: 0.95].")
@click.option("--no-embed", is_flag=True, default=False, help="Skip embedding dedup.")
@click.option("--embed-model", default=None, metavar="DIR", help="Local sentence-transformers folder [default: embedded MiniLM].")
@click.option("--min-len", type=int, default=None, help="Drop instructions of at most this many words (characters for Chinese).")
@click.option("--max-len", type=int, default=None, help="Drop instructions of more than this many words (characters for Chinese).")
@click.option("--decontaminate", multiple=True, type=click.Path(dir_okay=False),
              help="Benchmark file (JSONL or text): drop records sharing a 13-gram with an item; repeatable.")
def filter_command(infile, out, rejects, against, config_path, lang, rouge, no_rouge, embed, no_embed,
                   embed_model, min_len, max_len, decontaminate):
    """Filter IN.jsonl in order: each record is checked by the rules and compared with the
    pool and with the records kept before it. Kept rows are written unchanged to --out.

    Deduplication compares instructions across tasks: records sharing an instruction are
    the instances of one task (as Self-Instruct writes them) and are never duplicates of
    each other; one is dropped when its instruction and input both repeat a kept one."""
    from ..filters.run import filter_config, filter_file, format_funnel

    cfg = filter_config(config_path, rouge=rouge, no_rouge=no_rouge, embed=embed, no_embed=no_embed,
                        embed_model=embed_model, min_len=min_len, max_len=max_len,
                        decontaminate=list(decontaminate) or None)
    report = filter_file(infile, out, rejects=rejects, against=list(against), cfg=cfg, lang=lang)
    click.echo(format_funnel(report))


def register(group: click.Group) -> None:
    group.add_command(filter_command)
