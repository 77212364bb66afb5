"""`datagen datasets list|show|diff` and `datagen export`."""

from __future__ import annotations

import json

import click

from ..export import FORMATS

STORE_OPTION = click.option("--store", type=click.Path(file_okay=False), default=None,
                            help="Dataset store root [default: ./datasets, or $DATAGEN_STORE].")


@click.group("datasets")
def datasets_group():
    """Versioned datasets in the store: list them, show a manifest, diff two versions."""


@datasets_group.command("list")
@STORE_OPTION
def list_command(store):
    """List datasets with their latest version."""
    from ..store import DatasetStore
    from ..store.view import format_list

    click.echo(format_list(DatasetStore(store)))


@datasets_group.command("show")
@click.argument("ref")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def show_command(ref, store, as_json):
    """Summarize the manifest of REF (NAME for the latest, or NAME@vN)."""
    from ..store import DatasetStore, file_sha256
    from ..store.view import format_show

    st = DatasetStore(store)
    dv = st.resolve(ref)
    if as_json:
        click.echo(json.dumps(dv.manifest, ensure_ascii=False, indent=2))
        return
    click.echo(format_show(dv, verified=file_sha256(dv.data_path) == dv.manifest.get("data_sha256")))
    tags = sorted(t for t, v in st.tags(dv.name).items() if v == dv.version)
    if tags:
        click.echo(f"  tags: {', '.join(tags)}")


@datasets_group.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@STORE_OPTION
@click.option("--examples", type=int, default=5, show_default=True, help="Instructions to print per side.")
def diff_command(ref_a, ref_b, store, examples):
    """Compare two versions: records added/removed and what changed in the manifest."""
    from ..store import DatasetStore
    from ..store.view import diff_versions, format_diff

    s = DatasetStore(store)
    click.echo(format_diff(diff_versions(s.resolve(ref_a), s.resolve(ref_b)), examples))


@click.command("export")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              required=True, help="alpaca / sharegpt (LLaMA-Factory), messages (TRL/LLaMA-Factory), openai "
                                  "(OpenAI fine-tuning), prompt-completion (TRL), hf (datasets.save_to_disk, with a Hub dataset card README.md).")
@click.option("--out", required=True, type=click.Path(),
              help="A .json/.jsonl file, or a folder (gets NAME_FORMAT.json[l], so formats can share it); "
                   "dataset_info.json goes beside it. For hf: the folder to save_to_disk.")
@click.option("--name", default=None, help="Dataset name in dataset_info.json [default: the file's stem] or, "
                                           "for a folder, the file prefix [default: the dataset's name].")
@click.option("--with-reasoning/--without-reasoning", "reasoning", default=None,
              help="Put each record's reasoning trace before its answer in <think> tags [default: yes for "
                   "sharegpt/messages/prompt-completion, no for alpaca; openai has no place for it].")
@click.option("--license", "license_", default="other", metavar="ID",
              help="hf: the license in the dataset card's metadata (a Hub license id) [default: other].")
@STORE_OPTION
def export_command(ref, fmt, out, name, store, reasoning, license_):
    """Export dataset REF (NAME or NAME@vN) for a trainer; a preference version (datagen
    prefs) as preference pairs: LLaMA-Factory ranking (alpaca/sharegpt), TRL DPO (messages),
    OpenAI preference fine-tuning (openai)."""
    from ..prefs.export import export_version
    from ..store import DatasetStore

    if fmt == "hf":  # a Hub dataset: the datasets folder and its card (datagen/hub.py)
        from ..hub import export_hf

        res = export_hf(DatasetStore(store), ref, out, license=license_)
    else:
        res = export_version(DatasetStore(store), ref, fmt, out, name=name, reasoning=reasoning)
    msg = f"wrote {res.count} records ({fmt}) to {res.path}"
    if res.skipped:
        msg += f"; skipped {res.skipped} with an empty turn or no answer"
    if res.dataset_info:
        msg += f"; registered in {res.dataset_info}"
    click.echo(msg)


def register(group: click.Group) -> None:
    group.add_command(datasets_group)
    group.add_command(export_command)
