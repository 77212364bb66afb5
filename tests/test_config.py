"""One declaration per option: from_dict checks types from the hints and names the key
(file and line for YAML, the flag on the command line); `datagen run NAME` is built from
the registry and the config's fields; usage errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Optional

import click
import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import Origin, from_dict, override
from datagen.errors import ConfigError
from datagen.filters import FilterConfig
from datagen.generators import REGISTRY, Generator, GeneratorConfig, Outcome
from datagen.llm import LLMConfig
from datagen.llm.base import ChatRequest
from datagen.records import Record
from datagen.run import pipeline

ROOT = Path(__file__).resolve().parent.parent


# -- from_dict: every type, the key named ---------------------------------------------

@dataclass
class Inner:
    depth: int = 1


@dataclass
class Typed:
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    name: str = "x"
    names: list[str] = field(default_factory=list)
    maybe: Optional[float] = None
    either: int | None = None
    kind: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)
    limited: int = field(default=2, metadata={"min": 1, "max": 5})


@pytest.mark.parametrize("data, message", [
    ({"count": "3"}, "t.count: expected an integer, got '3'"),
    ({"count": 2.5}, "t.count: expected an integer, got 2.5"),
    ({"count": True}, "t.count: expected an integer, got True"),
    ({"ratio": "high"}, "t.ratio: expected a number, got 'high'"),
    ({"ratio": False}, "t.ratio: expected a number, got False"),
    ({"flag": 1}, "t.flag: expected true or false, got 1"),
    ({"flag": "yes"}, "t.flag: expected true or false, got 'yes'"),
    ({"name": 7}, "t.name: expected a string, got 7"),
    ({"names": "a"}, "t.names: expected a list of strings, got 'a'"),
    ({"names": ["a", 3]}, "t.names: expected a list of strings (3 is not a string)"),
    ({"maybe": "x"}, "t.maybe: expected a number or null, got 'x'"),
    ({"either": 1.5}, "t.either: expected an integer or null, got 1.5"),
    ({"kind": "c"}, "t.kind: expected one of 'a', 'b', got 'c'"),
    ({"inner": {"depth": "deep"}}, "t.inner.depth: expected an integer, got 'deep'"),
    ({"inner": {"width": 1}}, "t.inner: unknown key 'width'"),
    ({"inner": 3}, "t.inner: expected a mapping, got 3"),
    ({"limited": 0}, "t.limited: must be between 1 and 5, got 0"),
])
def test_from_dict_checks_each_type_and_names_the_key(data, message):
    with pytest.raises(ConfigError) as e:
        from_dict(Typed, data, "t")
    assert str(e.value).startswith(message), str(e.value)


def test_from_dict_accepts_what_the_hints_allow():
    cfg = from_dict(Typed, {"count": 3, "ratio": 1, "flag": True, "names": ("a", "b"), "maybe": None,
                            "either": 4, "kind": "b", "inner": {"depth": 2}, "limited": 5})
    assert cfg.ratio == 1.0 and isinstance(cfg.ratio, float)  # an int is a number
    assert cfg.names == ["a", "b"] and cfg.inner == Inner(2) and cfg.kind == "b" and cfg.either == 4
    # a bare string stays accepted where the config turns it into a list
    assert from_dict(LLMConfig, {"base_url": "http://h/v1"}).base_url == ["http://h/v1"]
    with pytest.raises(ConfigError, match="blacklist"):
        from_dict(FilterConfig, {"blacklist": "image"})


def test_override_names_the_flag():
    origin = Origin(flags={"concurrency": "--concurrency"})
    with pytest.raises(ConfigError, match=r"^--concurrency: must be at least 1, got 0$"):
        override(LLMConfig(), {"concurrency": 0}, origin)
    assert override(LLMConfig(), {"concurrency": 3}, origin).concurrency == 3


# -- YAML pipelines: file, line, key ----------------------------------------------------

PIPE = """\
generator:
  type: {type}
  {key}: {value}
llm:
  backend: openai
  concurrency: {concurrency}
filters:
  rouge: {rouge}
dataset: demo
"""


def load(tmp_path, type="self-qa", key="docs", value="docs", concurrency=2, rouge=0.7):
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPE.format(type=type, key=key, value=value, concurrency=concurrency, rouge=rouge))
    with pytest.raises(ConfigError) as e:
        pipeline.load(path)
    return str(e.value).replace(str(path), "pipeline.yaml")


def test_yaml_errors_name_file_line_and_key(tmp_path):
    assert load(tmp_path, rouge="high") == "pipeline.yaml:8: filters.rouge: expected a number or null, got 'high'"
    assert load(tmp_path, type="self-kg", key="temperature", value="hot") == \
        "pipeline.yaml:3: generator.temperature: expected a number, got 'hot'"
    assert load(tmp_path, type="self-kg", key="max_tokens", value="x") == \
        "pipeline.yaml:3: generator.max_tokens: expected an integer, got 'x'"
    assert load(tmp_path, key="chunk_chars", value="big") == \
        "pipeline.yaml:3: generator.chunk_chars: expected an integer, got 'big'"
    assert load(tmp_path, concurrency=0) == "pipeline.yaml:6: llm.concurrency: must be at least 1, got 0"
    assert load(tmp_path, type="self-magic").startswith(
        "pipeline.yaml:2: generator.type: unknown generator 'self-magic'")
    assert load(tmp_path, key="num", value=0) == "pipeline.yaml:3: generator.num: must be at least 1, got 0"
    assert load(tmp_path, key="chunk_chars", value=50) == \
        "pipeline.yaml:3: generator.chunk_chars: must be at least 100, got 50"


def test_yaml_cross_field_errors_name_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("generator:\n  type: self-kg\n  triples: t.jsonl\nfilters:\n  min_len: 9\n  max_len: 4\n"
                    "dataset: d\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:4: filters: max_len \(4\) must be greater than min_len"):
        pipeline.load(path)


def test_pipeline_errors_reach_the_cli_as_one_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PIPE.format(type="self-qa", key="docs", value="d", concurrency=0, rouge=0.7))
    res = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert res.exit_code == 2
    assert res.output.strip() == f"error: {path}:6: llm.concurrency: must be at least 1, got 0"


# -- a generator from one registry line -------------------------------------------------

@dataclass
class EchoConfig(GeneratorConfig):
    prompt: str = field(default="", metadata={"help": "What to ask the model."})
    rounds: int = field(default=3, metadata={"help": "Give up after this many rounds.", "min": 1})
    shout: bool = field(default=False, metadata={"help": "Upper-case the replies."})
    tags: list[str] = field(default_factory=list, metadata={"help": "Tags put in each record's meta."})


class EchoGenerator(Generator):
    name = "echo"
    config_cls = EchoConfig
    summary = "Ask one prompt, keep the replies."
    required = ("prompt",)

    def generate(self, client, chain, num) -> Iterator[Outcome]:
        kept = 0
        for r in range(self.config.rounds):
            if kept >= num:
                return
            reqs = [ChatRequest.make([{"role": "user", "content": self.config.prompt}], seed=self.request_seed(r, i))
                    for i in range(num)]
            records = []
            for i, (c,) in enumerate(client.chat_many(reqs)):
                text = c.text.upper() if self.config.shout else c.text
                records.append(Record(instruction=f"{self.config.prompt} ({r}.{i})", output=text,
                                      meta={"tags": list(self.config.tags)}))
            for rec, v in zip(records, chain.check_many(records)):
                if v is not None:
                    kept += v.kept
                    yield Outcome(rec, v)


@pytest.fixture
def echo_registered():
    REGISTRY["echo"] = EchoGenerator
    yield
    del REGISTRY["echo"]


def test_registered_generator_gets_a_command_with_help(echo_registered):
    res = CliRunner().invoke(main, ["run", "--help"])
    assert res.exit_code == 0 and "echo" in res.output and "Ask one prompt, keep the replies." in res.output
    res = CliRunner().invoke(main, ["run", "echo", "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    for text in ("--prompt TEXT", "What to ask the model.  [required]", "--rounds INTEGER",
                 "Give up after this many rounds.  [default: 3]", "--shout / --no-shout", "--tags TEXT",
                 "--num INTEGER", "--base-url TEXT"):
        assert text in res.output, text
    res = CliRunner().invoke(main, ["run", "echo", "--out", "x.jsonl"])
    assert res.exit_code == 2 and "--prompt" in res.output


def test_registered_generator_runs_from_its_flags(echo_registered, stub, tmp_path):
    stub.default = lambda body: "a reply about tea"
    out = tmp_path / "echo.jsonl"
    res = CliRunner().invoke(main, ["run", "echo", "--prompt", "Tell me about tea.", "--shout", "--tags", "a",
                                    "--tags", "b", "--num", "2", "--no-embed", "--no-rouge", "--min-len", "0",
                                    "--backend", "openai", "--base-url", stub.url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["output"] for r in rows] == ["A REPLY ABOUT TEA"] * 2
    assert rows[0]["meta"]["tags"] == ["a", "b"]
    res = CliRunner().invoke(main, ["run", "echo", "--prompt", "p", "--rounds", "0", "--out", str(out)])
    assert res.exit_code == 2 and res.output.strip() == "error: --rounds: must be at least 1, got 0"


def test_old_flag_names_still_work():
    ctx = click.Context(main)
    run = main.get_command(ctx, "run")
    flags = {name: {o for p in run.get_command(ctx, name).params for o in [*p.opts, *p.secondary_opts]}
             for name in ("self-instruct", "self-qa", "self-kg")}
    assert {"--seeds", "--instances", "--batch", "--max-rounds", "--patience", "--temperature",
            "--single-turn"} <= flags["self-instruct"]
    assert {"--docs", "--text-field", "--chunk-chars", "--overlap", "--questions", "--grounding",
            "--max-tokens"} <= flags["self-qa"]
    assert {"--triples", "--mode", "--max-facts", "--templates", "--max-tokens"} <= flags["self-kg"]
    shared = {"--num", "--lang", "--seed", "--out", "--rejects", "--dataset", "--store", "--rouge", "--embed",
              "--no-embed", "--embed-model", "--backend", "--base-url", "--model", "--concurrency", "--timeout",
              "--max-retries", "--no-cache", "--cache-path"}
    assert all(shared <= f for f in flags.values())


def test_single_turn_maps_to_multi_turn_false(monkeypatch, tmp_path):
    seen = {}

    def fake_execute(run):
        seen.update(cfg=run.gen.config, settings=run.settings, filters=run.filters, llm=run.llm)
        raise SystemExit(0)

    monkeypatch.setattr("datagen.run.job.execute", fake_execute)
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(ROOT / "seeds" / "self_instruct_en.jsonl"),
                                    "--single-turn", "--instances", "2", "--seed", "7", "--no-cache", "--rouge", "0.5",
                                    "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].multi_turn is False and seen["cfg"].instances == 2 and seen["cfg"].seed == 7
    assert seen["filters"].rouge == 0.5 and seen["llm"].cache is False


# -- numeric flags and one-line usage errors, through the console entry ------------------

def console(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATAGEN_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    return proc.returncode, proc.stderr.splitlines(), proc.stdout


KG = ["run", "self-kg", "--triples", ROOT / "seeds" / "kg_en.jsonl", "--mode", "template"]


@pytest.mark.parametrize("flags, line", [
    (["--num", "-1"], "error: --num: must be at least 1, got -1"),
    (["--num", "0"], "error: --num: must be at least 1, got 0"),
    (["--timeout", "-5"], "error: --timeout: must be greater than 0, got -5.0"),
    (["--max-retries", "-1"], "error: --max-retries: must be at least 0, got -1"),
    (["--concurrency", "0"], "error: --concurrency: must be at least 1, got 0"),
    (["--max-facts", "0"], "error: --max-facts: must be at least 1, got 0"),
    (["--rouge", "2"], "error: --rouge: must be between 0 and 1, got 2.0"),
    (["--lang", "xx"], "error: --lang: 'xx' is not one of 'auto', 'en', 'zh'"),
    (["--num", "many"], "error: --num: 'many' is not a valid integer"),
    (["--store", ROOT / "pyproject.toml", "--dataset", "d"], f"error: --store: Directory '{ROOT / 'pyproject.toml'}' is a file"),
])
def test_bad_flags_are_one_line_exit_2_nothing_written(tmp_path, flags, line):
    rc, err, out = console(tmp_path, *KG, "--out", tmp_path / "o.jsonl", *flags)
    assert (rc, err) == (2, [line])
    assert not (tmp_path / "o.jsonl").exists() and out == ""


def test_usage_errors_are_one_line(tmp_path):
    rc, err, _ = console(tmp_path, "run", "self-instruct", "--seeds", tmp_path, "--out", "o.jsonl")
    assert (rc, err) == (2, [f"error: --seeds: File '{tmp_path}' is a directory"])
    rc, err, _ = console(tmp_path, "run", "self-kg", "--out", "o.jsonl")
    assert (rc, err) == (2, ["error: --triples: missing (required)"])
    rc, err, _ = console(tmp_path, "run", "self-kg", "--bogus")
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: no such option '--bogus'")
    rc, err, _ = console(tmp_path, "export")
    assert (rc, err) == (2, ["error: REF: missing (required)"])


# -- extras -------------------------------------------------------------------------------

def test_missing_extra_is_named(monkeypatch, tmp_path):
    from datagen.extras import require_extra

    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ConfigError, match=r"^datagen train needs the 'train' extra \(peft is not installed\): "
                                          r"pip install 'datagen\[train\]'$"):
        require_extra("train")
    res = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "a")])
    assert res.exit_code == 2
    assert res.output.strip() == ("error: datagen train needs the 'train' extra (peft is not installed): "
                                  "pip install 'datagen[train]'")
    assert not (tmp_path / "a").exists()
    monkeypatch.setitem(sys.modules, "jieba", None)
    res = CliRunner().invoke(main, ["report", "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "pip install 'datagen[report]'" in res.output
