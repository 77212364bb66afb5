"""datagen/io/readers.py (+ the cleaner) on the real documents in corpora/formats/: what
comes out is the original's text, sentence by sentence, with headings, tables and pages."""

import functools
import re
from pathlib import Path

import pytest

pytest.importorskip("pdfplumber")

from datagen.io.clean import clean_pages  # noqa: E402
from datagen.io.readers import BadDocument, read_any  # noqa: E402

CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f"


def norm(s: str) -> str:
    """Typography aside: quotes, whitespace runs, spaces next to CJK, bold/code marks."""
    s = s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"\*\*|`", "", s)
    s = re.sub(r"\s+", " ", s)
    s = re.sub(f"(?<=[{CJK}]) | (?=[{CJK}])", "", s)
    return s.strip()


def original_sentences(md: str) -> list[str]:
    """The prose sentences of a Markdown/text original, its markup removed; code, tables,
    HTML, front matter and TeX (which the PDF printer typesets) left out."""
    out, fence = [], False
    for line in md.split("\n"):
        if line.strip().startswith("```"):
            fence = not fence
            continue
        if fence or line.lstrip().startswith(("|", "<", "{", "---")) or not line.strip() or "$" in line:
            continue
        line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
        line = re.sub(r"\*\*|__|`|\\(?=\*)", "", line)
        line = re.sub(r"^\s*(#+|[-*+]|\d+\.)\s+", "", line)
        out += [norm(s) for s in re.split(r"(?<=[.!?])\s+|(?<=[。！？])", line) if len(s.strip()) >= 15]
    return out


@functools.lru_cache(maxsize=None)  # a PDF's layout analysis takes a second: once per file
def extract(path: Path) -> tuple[str, list[int]]:
    ex = read_any(path)
    return clean_pages(ex.pages, ex.paged)


def found_whole(original: str, text: str) -> float:
    sents = original_sentences(original)
    t = norm(text)
    return sum(s in t for s in sents) / len(sents)


@pytest.mark.parametrize("stem,original", [
    ("002_4c6cda829bff24a3", "002_4c6cda829bff24a3.txt"),  # Chinese, tables, code
    ("004_722e8f5d027ef2f0", "004_722e8f5d027ef2f0.txt"),  # Chinese, 6 pages
    ("self_instruct_README", "self_instruct_README.md"),  # English
])
def test_pdf_sentences_come_out_whole(corpora, stem, original):
    """Wrapped lines joined (English with a space, Chinese without), nothing broken mid-sentence."""
    text, _ = extract(corpora / "formats" / f"{stem}.pdf")
    assert found_whole((corpora / "docs" / original).read_text(encoding="utf-8"), text) >= 0.95
    assert "\n" not in text.split("\n\n")[2]  # a paragraph is one line
    assert not re.search(f"[{CJK}] [{CJK}]", re.sub(r"^\|.*$", "", text, flags=re.M))  # no stray CJK spaces


@pytest.mark.parametrize("suffix", [".docx", ".html", ".epub"])
@pytest.mark.parametrize("stem,original", [("002_4c6cda829bff24a3", "002_4c6cda829bff24a3.txt"),
                                           ("self_instruct_README", "self_instruct_README.md")])
def test_flowing_formats_keep_the_text(corpora, suffix, stem, original):
    text, pages = extract(corpora / "formats" / f"{stem}{suffix}")
    assert pages == []  # no pages in a flowing document
    assert found_whole((corpora / "docs" / original).read_text(encoding="utf-8"), text) >= 0.95


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".html", ".epub"])
def test_headings_and_tables_stay_markdown(corpora, suffix):
    text, _ = extract(corpora / "formats" / f"002_4c6cda829bff24a3{suffix}")
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    assert "为什么需要微调" in headings and "PEFT/LoRA原理" in headings
    assert re.search(r"^\| ?数据生成方法 ?\| ?已有数据 ?\| ?生成数据 ?\|$", text, flags=re.M)
    assert re.search(r"^\| ?Self-QA ?\| ?文档数据 ?\| ?单轮指令微调数据 ?\|$", text, flags=re.M)


def test_a_cjk_code_comment_wrapped_in_a_pdf_stays_in_its_code_block(corpora):
    """A code comment in Chinese wrapped onto a line of its own has no Latin letter to mark it
    as monospace; it must stay inside the fence, not become a paragraph after it."""
    text, _ = extract(corpora / "formats" / "002_4c6cda829bff24a3.pdf")
    outside = "\n".join(b for i, b in enumerate(re.split(r"^```$", text, flags=re.M)) if i % 2 == 0)
    for tail in ("关的配置和功能", "为大模型的forward方法", "算，得出结果result。"):
        assert tail in text and not re.search(f"^{re.escape(tail)}", outside, re.M), tail


def test_a_pdf_table_cell_wrapped_in_chinese_has_no_stray_spaces(corpora):
    text, _ = extract(corpora / "formats" / "huatuo_README_zh.pdf")
    rows = [ln for ln in text.split("\n") if ln.startswith("|")]
    assert "| 小张最近感觉身体不适，出现心悸、气促等症状。体检发现心脏扩大、搏动减弱。 |" in text
    assert rows and not [r for r in rows if re.search("[\u4e00-\u9fff，。] [\u4e00-\u9fff，。]", r)]


def test_pdf_list_items_drawn_with_bullet_shapes_stay_items(corpora):
    """Chromium draws a bullet as a small shape, not a character: each item must still start
    a Markdown item of its own, not run on from the one before ("…较高。部分微调:…")."""
    text, _ = extract(corpora / "formats" / "004_722e8f5d027ef2f0.pdf")
    for item in ("全模型微调:对整个预训练模型进行微调", "部分微调:只对模型的部分层", "提示调优(Prompt Tuning):",
                 "提示组合(Prompt Ensembling):", "提示学习(Prompt Learning):指令微调可以看作是提示学习的一种特殊形式"):
        assert re.search(f"^- {re.escape(item)}", text, re.M), item
    assert "\n- 1.3" not in text and not re.search(r"^- #", text, re.M)  # headings and prose are not items


def test_html_is_the_main_content(corpora):
    text, _ = extract(corpora / "formats" / "self_instruct_README.html")
    assert "font-family" not in text and "<" not in text  # the page's <head> and styles are gone
    assert text.count("## Introduction") == 1


def test_pdf_pages_and_offsets(corpora):
    """Each page's own lines land inside its span of the extracted text."""
    import pdfplumber

    path = corpora / "formats" / "004_722e8f5d027ef2f0.pdf"
    text, starts = extract(path)
    with pdfplumber.open(path) as pdf:
        assert len(starts) == len(pdf.pages) == 6
        ends = starts[1:] + [len(text)]
        for i, page in enumerate(pdf.pages):
            lines = [ln for ln in page.extract_text().split("\n") if len(ln) > 25]
            own = norm(text[starts[i]:ends[i]])
            assert norm(lines[len(lines) // 2]) in own, i
            others = norm(text[:starts[i]] + text[ends[i]:])
            assert norm(lines[len(lines) // 2]) not in others, i


def test_no_running_title_repeated(corpora):
    text, starts = extract(corpora / "formats" / "huatuo_README_zh.pdf")
    assert len(starts) >= 8 and text.count("huatuo_README_zh") <= 1


def test_a_browsers_running_heads_and_page_numbers_are_dropped(corpora, tmp_path):
    """Chromium prints the date and title atop every page and the URL and "n/N" below it."""
    import shutil
    import subprocess

    import pdfplumber

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium to print a PDF with running heads (apt install chromium)")
    pdf = tmp_path / "printed.pdf"
    html = corpora / "formats" / "self_instruct_README.html"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={pdf}", html.as_uri()],
                   capture_output=True, timeout=120, check=True)
    with pdfplumber.open(pdf) as doc:
        edges = [(p.extract_text_lines()[0]["text"], p.extract_text_lines()[-1]["text"]) for p in doc.pages]
    assert len(edges) >= 3 and all("self_instruct_README" in top and bottom.startswith("file://")
                                   for top, bottom in edges)  # the heads are there to drop
    text, starts = extract(pdf)
    assert len(starts) == len(edges) and "file://" not in text and "self_instruct_README" not in text.split("\n", 1)[1]
    assert not re.search(r"^\s*\d+\s*/\s*\d+\s*$|\d{1,2}/\d{1,2}/\d{2}, ", text, re.M)
    assert found_whole((corpora / "docs" / "self_instruct_README.md").read_text(encoding="utf-8"), text) >= 0.95


def test_pptx_slides_are_pages(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for n, (title, body) in enumerate([("Tea basics", "Tea is made from Camellia sinensis leaves."),
                                       ("绿茶", "绿茶是不发酵茶，\n采摘后经过杀青制成。")], 1):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if n == 1:  # an indented paragraph is a list item
            sub = slide.placeholders[1].text_frame.add_paragraph()
            sub.text, sub.level = "Grown mostly in Asia.", 1
        rows = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
        for (r, c), v in {(0, 0): "kind", (0, 1): "oxidised", (1, 0): "green", (1, 1): f"no {n}"}.items():
            rows.cell(r, c).text = v
        group = slide.shapes.add_group_shape()  # a group's members are read, in order
        group.shapes.add_textbox(Inches(1), Inches(6), Inches(3), Inches(1)).text_frame.text = f"A grouped note on {title}."
    prs.save(tmp_path / "deck.pptx")
    text, starts = extract(tmp_path / "deck.pptx")
    assert len(starts) == 2
    first, second = text[:starts[1]], text[starts[1]:]
    assert first.startswith("## Tea basics\n\nTea is made from Camellia sinensis leaves.\n\n- Grown mostly in Asia.")
    assert "| kind | oxidised |\n|---|---|\n| green | no 1 |" in first
    assert "## 绿茶" in second and "| green | no 2 |" in second
    assert "A grouped note on Tea basics." in first and "A grouped note on 绿茶." in second


def test_bad_documents_say_why(tmp_path, corpora):
    import pypdf

    src = corpora / "formats" / "self_instruct_README.pdf"
    w = pypdf.PdfWriter(clone_from=src)
    w.encrypt("secret")
    w.write(tmp_path / "locked.pdf")
    (tmp_path / "cut.pdf").write_bytes(src.read_bytes()[:40_000])
    (tmp_path / "empty.docx").write_bytes(b"")
    (tmp_path / "cut.docx").write_bytes((corpora / "formats" / "self_instruct_README.docx").read_bytes()[:5000])
    (tmp_path / "blank.html").write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    reasons = {}
    for name in ("locked.pdf", "cut.pdf", "empty.docx", "cut.docx", "blank.html"):
        with pytest.raises(BadDocument) as e:
            read_any(tmp_path / name)
        reasons[name] = e.value.reason
        assert "\n" not in str(e.value) and str(tmp_path / name) in str(e.value)
    with pytest.raises(BadDocument, match=r"no text layer \(scanned\?\): OCR it first"):
        read_any(corpora / "formats" / "scanned_004.pdf")
    assert reasons["locked.pdf"] == "encrypted: remove the password first"
    assert reasons["cut.pdf"].startswith("not a readable PDF file (truncated or corrupt")
    assert reasons["empty.docx"] == "empty file (0 bytes)"
    assert reasons["cut.docx"].startswith("not a readable Word file (truncated or corrupt")
    assert reasons["blank.html"] == "no text found"
    # an owner password only restricts editing: the text is readable
    w = pypdf.PdfWriter(clone_from=src)
    w.encrypt("", owner_password="owner")
    w.write(tmp_path / "owner.pdf")
    assert "Self-Instruct" in extract(tmp_path / "owner.pdf")[0]


def test_web_page_loses_navigation_and_footer(tmp_path):
    body = " ".join(f"Green tea leaves are heated soon after picking, step {i} of the process." for i in range(12))
    page = (f"<html><head><title>Tea</title><script>var x = 1;</script></head><body>"
            f"<nav><ul><li><a href='/'>Home</a></li><li><a href='/shop'>Shop our teas</a></li></ul></nav>"
            f"<header><div class='menu'>Login | Register | Cart</div></header>"
            f"<article><h1>Green tea</h1><p>{body}</p><h2>Brewing</h2><p>{body.replace('Green', 'Brewed')}</p>"
            f"</article><aside><h3>Related posts</h3><a href='/x'>Ten teas you must try</a></aside>"
            f"<footer>Copyright 2024 Tea Shop. All rights reserved.</footer></body></html>")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    text, _ = extract(tmp_path / "page.html")
    assert text.startswith("# Green tea\n\nGreen tea leaves") and "## Brewing" in text
    for boilerplate in ("Shop our teas", "Login", "Related posts", "Copyright", "var x"):
        assert boilerplate not in text


@pytest.mark.parametrize("name", ["002_4c6cda829bff24a3.pdf", "self_instruct_README.pdf"])
def test_pdf_chunks_end_at_sentence_or_paragraph_ends(corpora, tmp_path, name):
    from datagen.io.documents import chunk_documents, load_documents

    (tmp_path / name).write_bytes((corpora / "formats" / name).read_bytes())
    doc = load_documents(tmp_path / name).documents[0]
    chunks = chunk_documents([doc], 1000, 150)
    assert len(chunks) > 3 and chunks[-1].page == chunks[-1].page_end == len(doc.pages)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert doc.page_at(c.start) == c.page and c.page <= c.page_end
        after = doc.text[c.end:c.end + 1]
        assert after in ("", "\n") or re.search(r"[.!?。！？;；…]\W*$", c.text), c.text[-80:]
