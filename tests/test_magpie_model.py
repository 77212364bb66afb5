"""One offline Magpie run on the embedded SmolLM2: its own chat template cut at the
user turn, raw completions on the local backend, answers, a published version."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.generators.magpie.template import pre_query, tokenizer_renderer
from datagen.store import DatasetStore

pytestmark = pytest.mark.model


def test_pre_query_template_from_the_smollm2_tokenizer():
    from transformers import AutoTokenizer

    from datagen.llm.embedded import smollm2_dir

    render = tokenizer_renderer(AutoTokenizer.from_pretrained(smollm2_dir()))
    assert pre_query(render) == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                                 "Hugging Face<|im_end|>\n<|im_start|>user\n")
    assert pre_query(render, "你是一名医学助手。", [("头痛怎么办？", "多休息。")]).endswith(
        "<|im_start|>assistant\n多休息。<|im_end|>\n<|im_start|>user\n")


def test_magpie_on_the_embedded_model(tmp_path):
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["run", "magpie", "--backend", "local", "--num", "2", "--batch", "4",
                                    "--max-rounds", "1", "--max-tokens", "48", "--answer-max-tokens", "40",
                                    "--no-embed", "--dataset", "mp", "--store", str(store)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "magpie: kept" in res.output
    dv = DatasetStore(store).latest("mp")
    kept = dv.records() if dv else []
    assert len(kept) <= 2 and len(kept) + len(dv.rejects() if dv else []) <= 4  # one round of four queries
    for r in kept:
        assert r.instruction and r.output and "<|im_end|>" not in r.instruction
        assert r.meta["template_source"] == "tokenizer of SmolLM2-135M-Instruct"
        assert r.meta["pre_query_template"].endswith("<|im_start|>user\n")


def test_magpie_through_a_tokenizer_folder_against_the_stub(stub, tmp_path):
    """--tokenizer gives a served model's own template (here SmolLM2's, from its folder)."""
    from datagen.llm.embedded import smollm2_dir

    stub.default = lambda body: ("How do tides form?<|im_end|>" if "prompt" in body else "The Moon pulls the sea.")
    res = CliRunner().invoke(main, ["run", "magpie", "--base-url", stub.url, "--tokenizer", str(smollm2_dir()),
                                    "--no-system", "--no-embed", "--num", "1", "--batch", "1", "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    prompt = next(b["prompt"] for b in stub.requests if "prompt" in b)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert "How do tides form?" in (tmp_path / "o.jsonl").read_text()
