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


def test_run_language_pins_an_auto_generator_to_one_language(tmp_path):
    """CLI and pipelines share one rule: flag, then the generator's own, then its inputs'
    dominant language; an "auto" config is pinned so prompts match the filter chain."""
    from datagen.generators.base import run_language
    from datagen.generators.self_qa import SelfQAConfig, SelfQAGenerator

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text("Honeybees store nectar in wax cells and fan it until it thickens "
                                 "into honey over several days of work in the hive.\n", encoding="utf-8")
    (docs / "zh1.txt").write_text("蜜蜂把花蜜储存在蜂巢的蜡质巢房里，并不停扇动翅膀使水分蒸发，几天后花蜜就变成了蜂蜜。" * 2,
                                  encoding="utf-8")
    (docs / "zh2.txt").write_text("熊猫主要以竹子为食，每天要花十多个小时进食，成年熊猫一天可以吃掉十几公斤竹子。" * 2,
                                  encoding="utf-8")
    gen = SelfQAGenerator(SelfQAConfig(docs=str(docs)))
    assert run_language(gen, "auto") == "zh" and gen.config.lang == "zh"
    gen = SelfQAGenerator(SelfQAConfig(docs=str(docs)))
    assert run_language(gen, "en") == "en" and gen.config.lang == "en"
    gen = SelfQAGenerator(SelfQAConfig(docs=str(docs), lang="en"))
    assert run_language(gen, None) == "en" and gen.config.lang == "en"


def test_run_without_a_destination_publishes_a_dataset_named_after_the_input(tmp_path, monkeypatch):
    """The README's headline command, `datagen run self-instruct --seeds seeds.jsonl`, as typed:
    a dataset named after the input file, in ./datasets, and the summary says so."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATAGEN_STORE", raising=False)
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                    "--mode", "template", "--num", "3"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "datasets" / "kg_en" / "v0001" / "data.jsonl").is_file()
    assert "dataset 'kg_en' named after the input" in res.output and "kg_en@v0001" in res.output


def test_default_dataset_is_the_seeds_file_stem():
    from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
    from datagen.run.job import default_dataset

    gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(ROOT / "seeds" / "self_instruct_en.jsonl")]))
    assert default_dataset(gen) == "self_instruct_en"


def test_out_and_dataset_together_write_both(tmp_path):
    out = tmp_path / "new.jsonl"
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_en.jsonl"),
                                    "--mode", "template", "--num", "3", "--dataset", "kg",
                                    "--store", str(tmp_path / "store"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    version = (tmp_path / "store" / "kg" / "v0001" / "data.jsonl").read_text().splitlines()
    assert len(out.read_text().splitlines()) == len(version) == 3
    assert f"wrote: {out}" in res.output and "kg@v0001" in res.output


def test_an_unknown_generator_lists_the_generators():
    res = CliRunner().invoke(main, ["run", "self-instrukt", "--seeds", "x.jsonl"])
    assert res.exit_code == 2
    assert "unknown generator 'self-instrukt' (did you mean self-instruct?)" in res.output
    assert "self-qa, self-kg, evol-instruct, magpie" in res.output


def test_an_unknown_flag_suggests_only_close_ones():
    res = CliRunner().invoke(main, ["run", "self-instruct", "--frobnicate"])
    assert res.exit_code == 2 and "no such option '--frobnicate'" in res.output and "--prices" not in res.output
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeed", "1"])
    assert "did you mean '--seed' or '--seeds'?" in res.output and "--embed" not in res.output
