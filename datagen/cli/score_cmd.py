"""`datagen score NAME --scorer judge|ifd|perplexity` and `datagen select NAME --by … --min/--budget`."""

from __future__ import annotations

import click

from .common import llm_config_from_flags, llm_options, pop_llm_flags
from .datasets_cmd import STORE_OPTION


@click.command("score")
@click.argument("ref")
@click.option("--scorer", type=click.Choice(["judge", "ifd", "perplexity"]), required=True,
              help="judge: LLM rates 1-5; ifd: instruction-following difficulty; perplexity: of the output.")
@click.option("--aspects", is_flag=True, default=False,
              help="Judge: rate instruction, input and output separately (value = the lowest).")
@click.option("--lang", type=click.Choice(["auto", "en", "zh"]), default="auto", show_default=True,
              help="Judge rubric language (auto: from the instructions).")
@click.option("--lm-model", default=None, help="ifd/perplexity: local HF model folder (default: embedded SmolLM2).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="ifd/perplexity: sequences per batch.")
@click.option("--judge-base-url", "judge_base_url", multiple=True,
              help="Judge endpoint, when the judge is not the generator's model (repeatable).")
@click.option("--judge-model", default=None, help="Judge model name (overrides --model).")
@STORE_OPTION
@llm_options
def score_command(ref, scorer, aspects, lang, lm_model, batch_size, judge_base_url, judge_model, store, **kw):
    """Score every record of dataset REF (NAME or NAME@vN) and publish the scored records
    as a new version; each score lands in meta.scores.<scorer>."""
    from ..llm import make_client
    from ..quality import ScoreConfig
    from ..quality.stage import score_version
    from ..store import DatasetStore

    cfg = ScoreConfig(scorer=scorer, aspects=aspects, lang=lang, lm_model=lm_model, batch_size=batch_size)
    flags = pop_llm_flags(kw)
    if judge_base_url:
        flags["base_url"] = judge_base_url
    if judge_model:
        flags["model"] = judge_model
    client = judge_cfg = None
    if scorer == "judge":
        judge_cfg = llm_config_from_flags(None, **flags)
        client = make_client(judge_cfg)
    try:
        version, info = score_version(DatasetStore(store), ref, cfg, client=client, judge_cfg=judge_cfg)
    finally:
        if client is not None:
            client.close()
    errors = ", ".join(f"{n} {e}" for e, n in info["errors"].items())
    click.echo(f"scored {info['scored']} records with {scorer}"
               + (f" ({info['failed']} failed: {errors})" if info["failed"] else "")
               + f"; published {version.ref}")


@click.command("select")
@click.argument("ref")
@click.option("--by", type=click.Choice(["judge", "ifd", "perplexity"]), required=True,
              help="The score (meta.scores.<by>) to rank by.")
@click.option("--min", "min_", type=float, default=None, help="Keep records scoring at least this.")
@click.option("--max", "max_", type=float, default=None, help="Keep records scoring at most this (perplexity).")
@click.option("--budget", type=int, default=None, help="Keep at most this many, best first.")
@click.option("--diversity", type=float, default=None,
              help="Skip a record whose instruction embedding cosine with a selected one exceeds this "
                   "(default 0.9 with --budget, off otherwise).")
@click.option("--no-diversity", is_flag=True, default=False, help="Never skip for similarity.")
@click.option("--embed-model", default=None, help="Local sentence-transformers folder (default: embedded MiniLM).")
@STORE_OPTION
def select_command(ref, by, min_, max_, budget, diversity, no_diversity, embed_model, store):
    """Publish the best records of REF by one score as a new version; the rest go to its
    rejects (below_threshold, budget, not_diverse, or the scorer's failure)."""
    from ..quality.select import SelectConfig
    from ..quality.stage import select_version
    from ..store import DatasetStore

    if diversity is None and budget is not None:
        diversity = 0.9
    cfg = SelectConfig(by=by, min=min_, max=max_, budget=budget, diversity=None if no_diversity else diversity,
                       embed_model=embed_model)
    version, info = select_version(DatasetStore(store), ref, cfg)
    c = info["counts"]
    dropped = ", ".join(f"{n} {k}" for k, n in c.items() if k not in ("candidates", "selected") and n)
    click.echo(f"selected {c['selected']} of {c['candidates']} by {by}" + (f" (dropped {dropped})" if dropped else "")
               + f"; published {version.ref}")


def register(group: click.Group) -> None:
    group.add_command(score_command)
    group.add_command(select_command)
