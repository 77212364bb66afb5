"""`datagen batch export` / `datagen batch import`: the Batch API by hand, for servers that
serve no /v1/batches (vLLM's `run_batch` reads and writes the same files)."""

from __future__ import annotations

import click


@click.group("batch")
def batch_group():
    """Batch API request files for servers without /v1/batches (see docs/cost.md)."""


@batch_group.command("export", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("requests", type=click.Path(dir_okay=False))
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED)
def export_command(requests, run_args):
    """Run `datagen run RUN_ARGS...` until the first stage the cache cannot answer, and write
    that stage's requests to REQUESTS (JSONL, Batch API format). Example:

    datagen batch export req.jsonl self-qa --docs d/ --backend openai --base-url URL --dataset qa
    """
    from ..llm.batch import BatchExported
    from . import main

    import os

    os.environ["DATAGEN_BATCH_EXPORT"] = str(requests)
    try:
        # click.Group.main, not DatagenGroup.main: BatchExported must reach this handler
        click.Group.main(main, ["run", *run_args], standalone_mode=False)
    except BatchExported as done:
        click.echo(f"{done}; run it (vLLM: python -m vllm.entrypoints.openai.run_batch -i {requests} -o OUT.jsonl "
                   f"--model MODEL), then `datagen batch import {requests} OUT.jsonl` and export again")
        return
    finally:
        os.environ.pop("DATAGEN_BATCH_EXPORT", None)
    click.echo("nothing left to export: every request was answered from the cache (the run above is complete)")


@batch_group.command("import")
@click.argument("requests", type=click.Path(exists=True, dir_okay=False))
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--cache-path", default=None, metavar="FILE", help="Response cache file (sqlite).")
def import_command(requests, results, cache_path):
    """Put RESULTS (a batch output file) for REQUESTS into the response cache."""
    from ..llm.batch import import_files
    from ..llm.cache import ResponseCache

    cache = ResponseCache(cache_path)
    try:
        done, total = import_files(requests, results, cache)
    finally:
        cache.close()
    click.echo(f"imported {done} of {total} requests into {cache.path}"
               + (f"; {total - done} failed or missing: the next export writes them again" if done < total else ""))


def register(group: click.Group) -> None:
    group.add_command(batch_group)
