"""datagen/generators/self_qa/sources.py end to end: `datagen run self-qa` over real PDF,
Word, HTML, EPUB files against the stub server; bad documents skipped with their reason;
each document asked in its own language, or skipped before any request."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pdfplumber")

from datagen.generators.self_qa.sources import document_lang  # noqa: E402
from datagen.io.documents import load_documents  # noqa: E402
from datagen.text import cjk_ratio, detect_lang  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chunk_of(prompt: str) -> str:
    return prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]


def echo(body):
    """Questions about the chunk's sentences in the prompt's language; an answer quotes
    the chunk's first sentence."""
    prompt = body["messages"][0]["content"]
    zh = "背景知识" in prompt
    sentences = [s for s in re.split(r"(?<=[。.!?！？])\s*|\n+", chunk_of(prompt))
                 if len(s) > 20 and not s.startswith(("#", "|", "`"))]
    if re.search(r"(Question: |问题：)", prompt.rsplit(">>>", 1)[1]):
        return sentences[0] if sentences else "NOT ANSWERABLE"
    asks = [f"关于“{s[:12]}”的第{i}个问题是什么？" if zh else f"What does point {i} say about: {s[:40]}?"
            for i, s in enumerate(sentences[:3], 1)]
    return "\n".join(f"{i}. {q}" for i, q in enumerate(asks, 1))[2:]


def datagen(*args, env=None):
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr.strip().splitlines()


def test_every_format_read_with_pages_and_offsets(stub, corpora, tmp_path):
    stub.responder = echo
    docs = tmp_path / "formats"
    shutil.copytree(corpora / "formats", docs)
    code, out, err = datagen("run", "self-qa", "--docs", docs, "--base-url", stub.url, "--num", 20, "--no-embed",
                             "--rouge", 1.0, "--dataset", "fmt", "--store", tmp_path / "store")
    assert code == 0, err
    skipped = {"scanned_004.pdf": "no text layer (scanned?): OCR it first", "head.html": "no text found",
               "scan.html": "no text found"}
    assert err[:3] == [f"self-qa: skipped {k}: {v}" for k, v in sorted(skipped.items())]
    assert all(f"  skipped: {k}: {v}" in out for k, v in skipped.items())
    ver = max((tmp_path / "store" / "fmt").glob("v*"))
    manifest = json.loads((ver / "manifest.json").read_text())
    assert manifest["skipped_inputs"] == dict(sorted(skipped.items()))
    read = {os.path.basename(p) for p in manifest["inputs"]}
    assert {os.path.splitext(p)[1] for p in read} == {".pdf", ".docx", ".html", ".epub", ".md"}
    assert read | set(skipped) == set(os.listdir(docs))  # every file is read or listed with its reason
    # provenance: the chunk is the document's extracted text at those offsets, on that page
    documents = {d.doc_id: d for d in load_documents(docs).documents}
    records = [json.loads(line) for line in (ver / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 20
    pdf_records = [r for r in records if r["meta"]["doc"].endswith(".pdf")]
    assert pdf_records and all("page" in r["meta"] for r in pdf_records)
    for r in records:
        doc = documents[r["meta"]["doc"]]
        start, end = r["meta"]["chunk"]
        assert r["output"] in doc.text[start:end]
        assert r["meta"]["lang"] == document_lang(doc.text)  # each document in its own language
        if doc.pages:
            page = r["meta"]["page"]
            assert doc.pages[page - 1] <= start < (doc.pages[page] if page < len(doc.pages) else len(doc.text))
        else:
            assert "page" not in r["meta"]


def test_bad_documents_skipped_or_fail(stub, corpora, tmp_path):
    import pypdf

    stub.responder = echo
    docs = tmp_path / "docs"
    docs.mkdir()
    src = corpora / "formats" / "self_instruct_README.pdf"
    shutil.copy(src, docs / "good.pdf")
    shutil.copy(corpora / "formats" / "self_instruct_README.docx", docs / "good.docx")
    shutil.copy(corpora / "formats" / "scanned_004.pdf", docs / "scan.pdf")
    w = pypdf.PdfWriter(clone_from=src)
    w.encrypt("secret")
    w.write(docs / "locked.pdf")
    (docs / "cut.pdf").write_bytes(src.read_bytes()[:30_000])
    (docs / "empty.docx").write_bytes(b"")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n")
    code, out, err = datagen("run", "self-qa", "--docs", docs, "--base-url", stub.url, "--num", 4, "--no-embed",
                             "--dataset", "bad", "--store", tmp_path / "store", "--lang", "en")
    assert code == 0, err
    reasons = {"cut.pdf": "not a readable PDF file (truncated or corrupt: PdfminerException: Unexpected EOF)",
               "empty.docx": "empty file (0 bytes)", "locked.pdf": "encrypted: remove the password first",
               "photo.png": "unsupported type '.png'", "scan.pdf": "no text layer (scanned?): OCR it first"}
    assert [ln for ln in err if "skipped" in ln] == [f"self-qa: skipped {k}: {v}" for k, v in reasons.items()]
    manifest = json.loads((max((tmp_path / "store" / "bad").glob("v*")) / "manifest.json").read_text())
    assert manifest["skipped_inputs"] == reasons
    assert {os.path.basename(p) for p in manifest["inputs"]} == {"good.pdf", "good.docx"}
    assert manifest["run"]["counts"]["documents_skipped"] == 5
    requests = len(stub.requests)
    # --on-bad-doc fail: the first unreadable file stops the run, before any request
    code, _, err = datagen("run", "self-qa", "--docs", docs, "--base-url", stub.url, "--out", tmp_path / "o.jsonl",
                           "--on-bad-doc", "fail")
    assert code == 2 and err == [f"error: {docs / 'cut.pdf'}: {reasons['cut.pdf']}"]
    # a single file named explicitly: exit 2 with its reason
    code, _, err = datagen("run", "self-qa", "--docs", docs / "scan.pdf", "--base-url", stub.url,
                           "--out", tmp_path / "o.jsonl")
    assert code == 2 and err == [f"error: {docs / 'scan.pdf'}: no text layer (scanned?): OCR it first"]
    assert len(stub.requests) == requests and not (tmp_path / "o.jsonl").exists()


@pytest.fixture
def mixed(corpora, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(corpora / "formats" / "self_instruct_README.pdf", d / "en.pdf")
    shutil.copy(corpora / "formats" / "004_722e8f5d027ef2f0.pdf", d / "zh.pdf")
    return d


def test_fixed_lang_skips_other_language_before_any_request(stub, mixed, tmp_path):
    stub.responder = echo
    code, out, err = datagen("run", "self-qa", "--docs", mixed, "--base-url", stub.url, "--num", 50,
                             "--no-embed", "--lang", "en", "--out", tmp_path / "en.jsonl")
    assert code == 0, err
    assert err[0] == ("self-qa: skipped zh.pdf: written in zh, not --lang en "
                      "(use --lang auto to ask each document in its own language)")
    prompts = [chunk_of(b["messages"][0]["content"]) for b in stub.requests]
    assert prompts and all(cjk_ratio(p) < 0.05 for p in prompts)  # the Chinese PDF was never sent
    kept = [json.loads(line) for line in (tmp_path / "en.jsonl").read_text().splitlines()]
    assert kept and {r["meta"]["doc"] for r in kept} == {"en.pdf"}
    assert "wrong_lang" not in out  # nothing paid for and then dropped


def test_auto_lang_asks_each_document_in_its_own_language(stub, mixed, tmp_path):
    stub.responder = echo
    code, out, err = datagen("run", "self-qa", "--docs", mixed, "--base-url", stub.url, "--num", 50,
                             "--no-embed", "--rouge", 1.0, "--out", tmp_path / "all.jsonl")
    assert code == 0, err
    questions = [b["messages"][0]["content"] for b in stub.requests if "<<<" in b["messages"][0]["content"]]
    zh_prompts = [p for p in questions if "背景知识" in p]
    assert zh_prompts and all(cjk_ratio(chunk_of(p)) > 0.3 for p in zh_prompts)  # Chinese prompts, Chinese chunks
    assert all(cjk_ratio(chunk_of(p)) < 0.3 for p in questions if p not in zh_prompts)
    kept = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    by_lang = {lang: [r for r in kept if r["meta"]["lang"] == lang] for lang in ("en", "zh")}
    assert {r["meta"]["doc"] for r in by_lang["zh"]} == {"zh.pdf"} and by_lang["en"]
    assert all(cjk_ratio(r["instruction"]) > 0.3 for r in by_lang["zh"])
    assert "wrong_lang" not in out  # the Chinese pairs are not dropped by the English-pinned chain

    # a model that answers Chinese questions in English: lang_consistency catches each answer
    def english_only(body):  # grounded (the chunk's own Latin words), but not Chinese
        prompt = body["messages"][0]["content"]
        words = re.findall(r"[A-Za-z]{3,}", chunk_of(prompt))
        return " ".join(words[:8]) + "." if "问题：" in prompt and len(words) >= 4 else echo(body)

    stub.responder = english_only
    code, out, err = datagen("run", "self-qa", "--docs", mixed, "--base-url", stub.url, "--num", 50, "--no-embed",
                             "--rouge", 1.0, "--out", tmp_path / "again.jsonl", "--seed", 1)
    assert code == 0, err
    rejects = [json.loads(line) for line in (tmp_path / "again.rejects.jsonl").read_text().splitlines()]
    wrong = [r for r in rejects if r["reason"] == "wrong_lang"]
    assert wrong and all(r["record"]["meta"]["doc"] == "zh.pdf" for r in wrong)
    kept = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert kept and all(cjk_ratio(r["output"]) > 0.3 for r in kept if r["meta"]["doc"] == "zh.pdf")


def test_a_chinese_readme_full_of_code_and_links_is_chinese(stub, corpora, tmp_path):
    """By characters huatuo's README is a quarter CJK (its code, URLs and badges are Latin),
    so it was taken for English: under --lang en it was asked about, paid for, and its
    Chinese answers dropped as wrong_lang. By its prose it is Chinese: skipped before any request."""
    text = (corpora / "docs" / "huatuo_README_zh.md").read_text(encoding="utf-8")
    assert detect_lang(text) == "en" and document_lang(text) == "zh"
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("huatuo_README_zh.md", "self_instruct_README.md"):
        shutil.copy(corpora / "docs" / name, docs / name)
    stub.responder = echo
    code, out, err = datagen("run", "self-qa", "--docs", docs, "--base-url", stub.url, "--num", 3, "--no-embed",
                             "--lang", "en", "--out", tmp_path / "o.jsonl")
    assert code == 0, err
    assert err[0].startswith("self-qa: skipped huatuo_README_zh.md: written in zh, not --lang en")
    assert not any("华驼" in json.dumps(b, ensure_ascii=False) for b in stub.requests)  # never asked about
