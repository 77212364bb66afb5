"""`datagen run` output as a user sees it: where the data went, said once and readably."""

from pathlib import Path

from click.testing import CliRunner

from datagen.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_run_into_a_dataset_names_the_version_once(tmp_path):
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                    "--mode", "template", "--num", "5", "--dataset", "kg",
                                    "--store", str(tmp_path / "store")])
    assert res.exit_code == 0, res.output
    assert res.output.count("kg@v0001") == 1
    assert "DatasetVersion(" not in res.output
    assert (tmp_path / "store" / "kg" / "v0001" / "data.jsonl").is_file()


def test_run_into_a_file_says_where_records_and_rejects_went(tmp_path):
    out = tmp_path / "kg.jsonl"
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                    "--mode", "template", "--num", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote: {out} (rejects: {tmp_path / 'kg.rejects.jsonl'})" in res.output
    assert out.is_file() and (tmp_path / "kg.rejects.jsonl").is_file()
