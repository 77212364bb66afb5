"""datagen/hub.py: the dataset card `export --format hf` writes, and `datagen push` against
a loopback Hub (tests/hub_server.py) that speaks the upload API as huggingface_hub calls it."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import Record
from datagen.store import DatasetStore
from hub_server import HubServer


@pytest.fixture
def store(tmp_path):
    st = DatasetStore(tmp_path / "store")
    recs = [Record(f"Explain idea {i}.", output=f"Idea {i} is simple.") for i in range(5)]
    manifest = {"generator": "self-instruct", "model": "gpt-4o-mini", "backend": "openai", "lang": "en",
                "prompt_templates": {"en/self_instruct_bootstrap": "abc123def456"},
                "funnel": {"candidates": 9, "kept": 5, "dropped": {"rouge_dup": 3, "too_short": 1}},
                "usage": {"ledger": {"total": {"requests": 12, "cached": 2, "tokens": 3400, "dollars": 0.0021}}}}
    with st.lock("ideas"):
        v1 = st.publish("ideas", recs, [], manifest)
    from datagen.eval.history import record

    record(st, "ideas", v1.version, {"version": v1.version, "adapter": {"rouge_l": 0.41, "ref_loss": 1.2},
                                     "base": {"rouge_l": 0.33, "ref_loss": 2.75}, "eval_set": {"items": 20}})
    return st


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_hf_writes_a_dataset_card_with_hub_metadata_and_provenance(store, tmp_path):
    out = tmp_path / "hf"
    res = CliRunner().invoke(main, ["export", "ideas", "--format", "hf", "--out", str(out), "--license", "mit",
                                    "--store", str(store.root)])
    assert res.exit_code == 0, res.output
    card = (out / "README.md").read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["license"] == "mit" and meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data-*.arrow"}]}]
    for needle in ("self-instruct", "gpt-4o-mini", "abc123def456", "5 kept of 9 candidates", "| rouge_dup | 3 |",
                   "12 requests + 2 cached", "$0.0021", "ROUGE-L 0.41 vs base 0.33"):
        assert needle in card, needle
    # the Hub's loader reads the Arrow files the configs name; load_from_disk still works
    import glob

    from datasets import load_dataset, load_from_disk

    assert load_from_disk(str(out)).num_rows == 5
    files = glob.glob(str(out / "data-*.arrow"))
    assert load_dataset("arrow", data_files=files, split="train").num_rows == 5


def test_size_categories_follow_the_hubs_buckets():
    from datagen.hub import size_category

    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == \
        ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_push_uploads_the_card_and_data_without_printing_the_token(store, monkeypatch):
    token = "hf_secretTOKEN1234567890"
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", token)
        res = CliRunner().invoke(main, ["push", "ideas", "--repo", "me/ideas", "--private",
                                        "--store", str(store.root)])
        assert res.exit_code == 0, res.output
        assert "pushed ideas to me/ideas" in res.output and token not in res.output
        repo = hub.repos["me/ideas"]
        assert repo["type"] == "dataset" and repo["visibility"] == "private"
        assert "README.md" in repo["files"] and any(p.endswith(".arrow") for p in repo["files"])
        assert front_matter(repo["files"]["README.md"].decode())["pretty_name"] == "ideas"
        assert repo["commits"] == ["datagen: ideas@v0001"]
        assert all(h.get("authorization") == f"Bearer {token}" for _, _, h in hub.requests)
        # again: the repository exists, a second commit lands
        res = CliRunner().invoke(main, ["push", "ideas", "--repo", "me/ideas", "--store", str(store.root)])
        assert res.exit_code == 0, res.output and len(repo["commits"]) == 2
        # a refused token: one line, exit 2, the token never shown
        monkeypatch.setenv("HF_TOKEN", "")
        res = CliRunner().invoke(main, ["push", "ideas", "--repo", "me/ideas", "--store", str(store.root)])
        assert res.exit_code == 2 and "HF_TOKEN" in res.output


def test_push_errors_are_one_line(store, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    res = CliRunner().invoke(main, ["push", "ideas", "--repo", "not a repo", "--store", str(store.root)])
    assert res.exit_code == 2 and "--repo" in res.output and "USER/NAME" in res.output
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_anotherSECRET99999")
        res = CliRunner().invoke(main, ["push", "ideas", "--repo", "me/ideas", "--store", str(store.root)])
        assert res.exit_code == 0, res.output
    # the Hub gone: a one-line error that names the repo, never the token
    res = CliRunner().invoke(main, ["push", "ideas", "--repo", "me/ideas", "--store", str(store.root)])
    assert res.exit_code != 0 and "Traceback" not in res.output and "hf_anotherSECRET99999" not in res.output
