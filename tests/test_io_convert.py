"""datagen/io/convert.py: conversion once per file content, in a process pool."""

import shutil
import sys

import pytest

pytest.importorskip("pdfplumber")

from datagen.errors import ConfigError  # noqa: E402
from datagen.io import convert  # noqa: E402


def test_rerun_converts_nothing_again(doc_folder, monkeypatch):
    files = sorted(doc_folder.iterdir())
    first = convert.convert_files(files, workers=2)  # the process pool
    assert [c.cached for c in first] == [False] * 4
    html, epub, docx, pdf = first  # sorted by name
    assert epub.error.startswith("not a readable EPUB file") and all(c.text for c in (html, docx, pdf))
    assert pdf.pages and not html.pages  # the PDF has page starts, the HTML none

    def must_not_run(path):
        raise AssertionError(f"converted {path} again")

    monkeypatch.setattr(convert, "convert_file", must_not_run)
    again = convert.convert_files(files)
    assert [c.cached for c in again] == [True] * 4
    assert [(c.text, c.pages, c.error) for c in again] == [(c.text, c.pages, c.error) for c in first]
    # a copy under another name is the same content: no conversion either
    shutil.copy(files[3], doc_folder / "copy.pdf")
    assert convert.convert_files([doc_folder / "copy.pdf"])[0].text == first[3].text


def test_changed_content_is_converted_again_and_pool_matches_inline(doc_folder, tmp_path):
    html = doc_folder / "004_722e8f5d027ef2f0.html"
    before = convert.convert_files([html])[0]
    html.write_text(html.read_text(encoding="utf-8").replace("指令微调", "指令调优"), encoding="utf-8")
    after = convert.convert_files([html])[0]
    assert not after.cached and "指令调优" in after.text and after.text != before.text
    files = sorted(doc_folder.iterdir())
    pooled = convert.convert_files(files, workers=2, cache=False)
    inline = convert.convert_files(files, workers=1, cache=False)
    assert pooled == inline


def test_missing_extra_is_named(doc_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pdfplumber", None)
    with pytest.raises(ConfigError, match=r"needs the 'docs' extra \(pdfplumber is not installed\): "
                                          r"pip install 'datagen\[docs\]'"):
        convert.convert_files(sorted(doc_folder.iterdir()))
