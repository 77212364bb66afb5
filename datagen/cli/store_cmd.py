"""`datagen datasets import|head|sample|tag|untag|rm`: the store's everyday verbs."""

from __future__ import annotations

import click

from .datasets_cmd import STORE_OPTION, datasets_group


@datasets_group.command("import")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, metavar="NAME", help="Dataset to publish the records to (a new version).")
@click.option("--format", "fmt", type=click.Choice(("auto", "self-instruct", "alpaca", "messages", "sharegpt", "text")),
              default="auto",
              help="Record format [default: auto, from each row's fields].")
@STORE_OPTION
def import_command(file, dataset, fmt, store):
    """Publish the records of FILE (Alpaca JSON/JSONL, Self-Instruct tasks, OpenAI messages,
    ShareGPT, or .txt with one instruction a line) as a new version of a dataset, so it
    can be filtered, scored, selected, exported and reviewed like generated data."""
    from ..store import DatasetStore
    from ..store.manage import import_file

    dv = import_file(DatasetStore(store), file, dataset, fmt)
    click.echo(f"imported {dv.manifest['counts']['records']} records from {file}; published {dv.ref}")


def _show(ref, store, n, as_json, sample, seed):
    from ..store import DatasetStore
    from ..store.manage import format_records, pick, records_json

    dv = DatasetStore(store).resolve(ref)
    records = dv.records()
    picked = pick(records, n, sample=sample, seed=seed)
    click.echo(records_json(picked) if as_json else format_records(dv, picked, len(records)))


_N = click.option("-n", "n", type=click.IntRange(min=1), default=5, help="How many records [default: 5].")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")


@datasets_group.command("head")
@click.argument("ref")
@_N
@_JSON
@STORE_OPTION
def head_command(ref, n, as_json, store):
    """Print the first records of REF (NAME, NAME@vN or NAME@TAG); control characters in
    the text are shown escaped."""
    _show(ref, store, n, as_json, sample=False, seed=0)


@datasets_group.command("sample")
@click.argument("ref")
@_N
@click.option("--seed", type=int, default=0, help="Random seed [default: 0].")
@_JSON
@STORE_OPTION
def sample_command(ref, n, seed, as_json, store):
    """Print records of REF drawn at random (seeded, so the same call shows the same ones)."""
    _show(ref, store, n, as_json, sample=True, seed=seed)


@datasets_group.command("tag")
@click.argument("ref")
@click.argument("tag_name", metavar="TAG")
@STORE_OPTION
def tag_command(ref, tag_name, store):
    """Point TAG at the version REF names (NAME@TAG then reads it); an existing tag moves."""
    from ..store import DatasetStore
    from ..store.manage import tag

    dv = tag(DatasetStore(store), ref, tag_name)
    click.echo(f"tagged {dv.ref} as {dv.name}@{tag_name}")


@datasets_group.command("untag")
@click.argument("name")
@click.argument("tag_name", metavar="TAG")
@STORE_OPTION
def untag_command(name, tag_name, store):
    """Remove TAG from dataset NAME (the version stays)."""
    from ..store import DatasetStore
    from ..store.manage import untag

    version = untag(DatasetStore(store), name, tag_name)
    click.echo(f"removed tag {name.partition('@')[0]}@{tag_name} (was {version})")


@datasets_group.command("rm")
@click.argument("ref")
@click.option("--force", is_flag=True, help="Remove it even when a tag or a later version's lineage needs it "
                                           "(its tags go too).")
@STORE_OPTION
def rm_command(ref, force, store):
    """Remove the version REF names (NAME@vN; NAME alone is its latest), whole or not at
    all. Refused while a tag points at it or a later version names it as its parent,
    unless --force. Its number is never handed out again."""
    from ..store import DatasetStore
    from ..store.manage import remove

    dv, needs = remove(DatasetStore(store), ref, force=force)
    click.echo(f"removed {dv.ref}" + (f" (it was needed by {', '.join(needs)})" if needs else ""))




@click.command("push")
@click.argument("ref")
@click.option("--repo", required=True, metavar="USER/NAME", help="Hub dataset repository (created if missing).")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--license", "license_", default="other", metavar="ID",
              help="License in the dataset card's metadata (a Hub license id) [default: other].")
@STORE_OPTION
def push_command(ref, repo, private, license_, store):
    """Upload dataset REF to the Hugging Face Hub: its records (Arrow, as `export --format
    hf` writes them) and a dataset card with what made them. The token comes from HF_TOKEN
    and is never printed; HF_ENDPOINT points at another Hub."""
    from ..hub import push
    from ..store import DatasetStore

    url = push(DatasetStore(store), ref, repo, private=private, license=license_)
    click.echo(f"pushed {ref} to {repo}: {url}")


def register(group: click.Group) -> None:
    """The datasets verbs join `datagen datasets` when this module is imported; push is top level."""
    group.add_command(push_command)
