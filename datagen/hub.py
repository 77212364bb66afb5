"""The Hugging Face Hub: a dataset card for an exported version, and `datagen push`.

`datagen export REF --format hf --out DIR` writes the `datasets` folder and, beside its
Arrow files, README.md: the Hub's YAML metadata (license, language, task_categories,
size_categories, configs pointing at the Arrow files) and what made the data —
generator, model, the prompts' hashes, counts, the filter funnel, the cost, and the eval
results where `datagen eval` recorded some. `push` uploads that folder with
huggingface_hub, the token read from HF_TOKEN (never printed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConfigError, DatagenError
from .text import LANGS

TASKS = {"self-qa": ["question-answering", "text-generation"], "self-kg": ["question-answering", "text-generation"]}
# the Hub's size buckets
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    return next((label for limit, label in SIZES if n < limit), "n>1T" if n >= 10**12 else "100M<n<1B")


def _lineage(store, dv) -> list:
    """`dv` and its ancestors, newest first (a score/select version names its parent)."""
    out, seen = [dv], {dv.version}
    while out[-1].manifest.get("parent") and out[-1].manifest["parent"] not in seen:
        parent = out[-1].manifest["parent"]
        seen.add(parent)
        try:
            out.append(store.resolve(f"{dv.name}@{parent}"))
        except DatagenError:  # removed: the card says what it still knows
            break
    return out


def _first(versions: list, key: str):
    return next((v.manifest[key] for v in versions if v.manifest.get(key)), None)


def card_metadata(dv, store, license: str = "other") -> dict[str, Any]:
    m = dv.manifest
    n = int((m.get("counts") or {}).get("records", 0))
    lang = m.get("lang")
    return {
        "license": license,
        "language": [lang] if lang in LANGS else list(LANGS),
        "task_categories": TASKS.get(m.get("generator"), ["text-generation"]),
        "size_categories": [size_category(n)],
        "pretty_name": dv.name,
        "tags": ["synthetic", "datagen"] + ([m["generator"]] if m.get("generator") else []),
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data-*.arrow"}]}],
    }


def _cell(x: Any) -> str:
    """Text from a manifest in a Markdown table cell: no pipes, no newlines, no HTML."""
    s = str(x).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
    return s if len(s) <= 200 else s[:199] + "…"


def card_text(dv, store, license: str = "other") -> str:
    """README.md of the exported version: YAML front matter, then the provenance."""
    import yaml

    versions = _lineage(store, dv)
    m = dv.manifest
    meta = card_metadata(dv, store, license)
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {dv.name}", "",
             f"Version `{dv.ref}`, made with [datagen](https://github.com/) "
             f"({m.get('datagen_version', '?')}), published {m.get('created', '?')}.", "",
             "| | |", "|---|---|"]
    rows = [("generator", _first(versions, "generator")), ("model", _first(versions, "model")),
            ("backend", _first(versions, "backend")), ("language", m.get("lang")),
            ("records", (m.get("counts") or {}).get("records")), ("rejects", (m.get("counts") or {}).get("rejects")),
            ("stage", m.get("stage") or "generate"), ("parent", m.get("parent")),
            ("data sha256", m.get("data_sha256"))]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows if v is not None]
    prompts = _first(versions, "prompt_templates") or {}
    if prompts:
        lines += ["", "## Prompts", "", "| template | sha256 (12) |", "|---|---|"]
        lines += [f"| `{_cell(k)}` | `{_cell(v)}` |" for k, v in sorted(prompts.items())]
    funnel = _first(versions, "funnel") or {}
    if funnel:
        cands = funnel.get("candidates", funnel.get("seen"))
        lines += ["", "## Filter funnel", "", f"{funnel.get('kept', '?')} kept of {cands if cands is not None else '?'} "
                  "candidates.", "", "| dropped because | records |", "|---|---|"]
        lines += [f"| {_cell(k)} | {v} |" for k, v in (funnel.get("dropped") or {}).items()]
    lines += ["", "## Cost", ""] + _cost_lines(versions)
    evals = _evals(store, dv)
    if evals:
        from .eval.report import summary_line

        lines += ["", "## Evaluation (LoRA adapter trained on it vs its base)", ""]
        lines += [f"- {_cell(summary_line(s))}" for s in evals]
    lines += ["", "## Loading", "", "```python", "from datasets import load_dataset", "",
              f'ds = load_dataset("USER/{dv.name}", split="train")', "```", ""]
    return "\n".join(lines)


def _cost_lines(versions: list) -> list[str]:
    out = []
    for v in versions:
        ledger = ((v.manifest.get("usage") or {}).get("ledger") or {}).get("total")
        if not ledger:
            continue
        d = ledger.get("dollars")
        out.append(f"- `{v.ref}` ({v.manifest.get('stage') or 'generate'}): {ledger.get('requests', 0)} requests + "
                   f"{ledger.get('cached', 0)} cached, {ledger.get('tokens', 0)} tokens, "
                   + ("cost unknown (no price for the model)" if d is None else f"${d:.4f}"))
    return out or ["No LLM cost recorded."]


def _evals(store, dv) -> list[dict]:
    from .eval.history import load_history

    return [s for s in load_history(store, dv.name) if s.get("version") == dv.version]


def write_card(dv, store, folder: str | Path, license: str = "other") -> Path:
    path = Path(folder) / "README.md"
    path.write_text(card_text(dv, store, license), encoding="utf-8")
    return path


def export_hf(store, ref: str, out: str | Path, license: str = "other"):
    """`datagen export REF --format hf`: the datasets folder (load_from_disk) with its
    dataset card beside the Arrow files, ready for the Hub."""
    from .export import export_dataset

    res = export_dataset(store, ref, "hf", out)
    write_card(store.resolve(ref), store, res.path, license=license)
    return res


def push(store, ref: str, repo: str, private: bool = False, license: str = "other") -> str:
    """Export `ref` as a Hub dataset (Arrow files + card) and upload it to `repo`
    (user/name) with huggingface_hub; returns the commit URL. The endpoint is HF_ENDPOINT
    (default huggingface.co), the token HF_TOKEN."""
    import re
    import tempfile

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo or ""):
        raise ConfigError(f"--repo {repo!r}: expected USER/NAME")
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ConfigError("push needs a Hugging Face token in HF_TOKEN (a write token: "
                          "https://huggingface.co/settings/tokens)")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    with tempfile.TemporaryDirectory(prefix="datagen-push-") as tmp:
        folder = Path(tmp) / "hf"
        export_hf(store, ref, folder, license=license)
        dv = store.resolve(ref)
        try:
            api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
            info = api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset",
                                     commit_message=f"datagen: {dv.ref}")
        except DatagenError:
            raise
        except Exception as e:  # the Hub's HTTP errors, a refused connection (httpx), a rejected card
            from .secrets import redact

            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DatagenError(f"push to {repo} at {api.endpoint}: {redact(first)}") from None
    return str(getattr(info, "commit_url", info))
