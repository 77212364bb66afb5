"""Ctrl-C says what was published: a KeyboardInterrupt that lands just after a version
was renamed into place reports that version, not a bare `aborted`."""

from pathlib import Path

from click.testing import CliRunner

import datagen.store.versions as versions
from datagen.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_kg(store: Path):
    return CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                     "--mode", "template", "--num", "3", "--dataset", "demo", "--store", str(store)])


def test_ctrl_c_right_after_the_rename_reports_the_published_version(tmp_path, monkeypatch):
    store = tmp_path / "store"
    real = versions._fsync_dir

    def interrupted_after_rename(path):
        real(path)
        if not Path(path).name.startswith(versions.TMP_PREFIX):  # the dataset folder: the rename is done
            raise KeyboardInterrupt

    monkeypatch.setattr(versions, "_fsync_dir", interrupted_after_rename)
    res = run_kg(store)
    assert res.exit_code == 130
    assert (store / "demo" / "v0001" / "manifest.json").is_file()
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("aborted after publishing demo@v0001 (") and str(store / "demo" / "v0001") in last


def test_ctrl_c_later_in_the_same_command_still_names_it(tmp_path, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("datagen.cli.run_cmd.echo_result", interrupted)  # printing the summary
    res = run_kg(tmp_path / "store")
    assert res.exit_code == 130
    assert "aborted after publishing demo@v0001" in res.stderr


def test_ctrl_c_before_the_rename_publishes_nothing_and_says_aborted(tmp_path, monkeypatch):
    store = tmp_path / "store"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(versions, "_write_json_synced", interrupted)
    res = run_kg(store)
    assert res.exit_code == 130
    assert res.stderr.strip().splitlines()[-1] == "aborted"
    assert not (store / "demo" / "v0001").exists()
    assert not [p for p in (store / "demo").iterdir() if p.name.startswith(versions.TMP_PREFIX)]
