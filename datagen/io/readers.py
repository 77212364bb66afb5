"""Readers for the document formats people have: one small adapter per format around a
well-kept library, each returning `Extracted`: Markdown-ish text per page (paged formats:
PDF pages, PPTX slides) or one text (flowing formats). `clean.py` then joins wrapped lines
and drops running headers, the same way for every format.

- .pdf: pdfplumber (pdfminer.six underneath), page by page, so chunks keep their page;
  font sizes give the headings, its table finder the tables, monospace lines code blocks.
- .docx: mammoth (Word styles -> semantic HTML), then markdownify.
- .html/.htm: trafilatura (the main content, without navigation and boilerplate), Markdown.
- .epub: ebooklib (the spine's chapters in reading order), then markdownify.
- .pptx: python-pptx, one page per slide: its title as a heading, text, tables.

A document that cannot be read raises BadDocument with a one-line reason; the caller
decides whether that skips the file or stops the run. Libraries are imported inside the
functions: they are the `docs` extra.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .clean import CJK

PAGED = (".pdf", ".pptx")
FLOWING = (".docx", ".html", ".htm", ".xhtml", ".epub")
SUFFIXES = PAGED + FLOWING
NO_TEXT_LAYER = "no text layer (scanned?): OCR it first"


class BadDocument(DataError):
    """A document that cannot be read: encrypted, corrupt, truncated, empty, scanned."""

    def __init__(self, path, reason: str):
        super().__init__(path, None, reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    pages: list[str]  # one entry per page (paged formats) or one for the whole document
    paged: bool


def read_any(path: str | Path) -> Extracted:
    """The reader for `path`'s suffix; BadDocument when the file cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    reader = {".pdf": read_pdf, ".docx": read_docx, ".html": read_html, ".htm": read_html,
              ".xhtml": read_html, ".epub": read_epub, ".pptx": read_pptx}[suffix]
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadDocument(path, f"cannot read file: {e.strerror or e}") from None
    if size == 0:
        raise BadDocument(path, "empty file (0 bytes)")
    try:
        out = reader(path)
    except (BadDocument, ImportError):
        raise
    except Exception as e:  # each library has its own error zoo; any of them means unreadable
        raise BadDocument(path, _reason(suffix, e).replace(str(path), path.name)) from None
    if not any(p.strip() for p in out.pages):
        raise BadDocument(path, NO_TEXT_LAYER if suffix == ".pdf" else "no text found")
    return out


def _reason(suffix: str, e: Exception) -> str:
    name, msg = type(e).__name__, str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
    text = f"{name} {msg}".lower()
    if "password" in text or "encrypt" in text:
        return "encrypted: remove the password first"
    kind = {".docx": "Word", ".pptx": "PowerPoint", ".epub": "EPUB"}.get(suffix, suffix[1:].upper())
    return f"not a readable {kind} file (truncated or corrupt: {name}{': ' + msg if msg else ''})"


# ---- PDF --------------------------------------------------------------------------------

_MONO = re.compile(r"mono|courier|consol|code", re.I)
_CID = re.compile(r"\(cid:\d+\)")
_CJK = re.compile(f"[{CJK}]")


def read_pdf(path: Path) -> Extracted:
    """Page texts of a PDF's text layer, with Markdown headings, tables and code blocks."""
    import logging

    import pdfplumber

    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # font quirks it works around
    with pdfplumber.open(path) as pdf:
        if pdf.doc.encryption and not pdf.pages:  # opened with the empty password but unreadable
            raise BadDocument(path, "encrypted: remove the password first")
        pages = [_pdf_page_items(p) for p in pdf.pages]
    sizes = [round(it["size"]) for items in pages for it in items if it["kind"] == "line"
             for _ in range(len(it["text"]))]
    if not sizes:
        raise BadDocument(path, NO_TEXT_LAYER)
    body = statistics.mode(sizes)
    # heading levels: the distinct larger sizes, largest first (# for the title)
    bigger = sorted({round(it["size"]) for items in pages for it in items
                     if it["kind"] == "line" and round(it["size"]) > body * 1.1}, reverse=True)
    level = {s: min(i + 1, 6) for i, s in enumerate(bigger)}
    return Extracted([_pdf_page_text(items, body, level) for items in pages], paged=True)


def _pdf_page_items(page) -> list[dict]:
    tables = page.find_tables()
    boxes = [t.bbox for t in tables]

    def outside(obj) -> bool:
        return not any(x0 <= obj.get("x0", 0) and obj.get("x1", 0) <= x1 + 1 and top <= obj.get("top", 0)
                       and obj.get("bottom", 0) <= bottom + 1 for x0, top, x1, bottom in boxes)

    body = page.filter(outside) if boxes else page
    # list bullets a browser draws as small shapes, not as text: (middle, right edge)
    bullets = [((c["top"] + c["bottom"]) / 2, c["x1"]) for c in body.curves + body.rects
               if 1 < c["x1"] - c["x0"] <= 7 and 1 < c["bottom"] - c["top"] <= 7]
    items = []
    for ln in body.extract_text_lines(return_chars=True, strip=True):
        chars = [c for c in ln["chars"] if c["text"].strip()]
        if not chars:
            continue
        # code: monospace, but for the CJK characters of its comments, which a CJK font draws;
        # a line with CJK in it is code only when it starts in monospace ("# 导入…"), else it
        # is prose with an inline path in it
        latin = [c for c in chars if not _CJK.match(c["text"])]
        mono = bool(latin) and sum(bool(_MONO.search(c.get("fontname", ""))) for c in latin) >= 0.8 * len(latin) \
            and (len(latin) == len(chars) or bool(_MONO.search(chars[0].get("fontname", ""))))
        text = _CID.sub("", ln["text"]).strip()  # glyphs without a Unicode mapping (emoji)
        if not text:
            continue
        kind = "code" if mono else "line"
        size = statistics.median(c["size"] for c in chars)
        prev = items[-1] if items else None
        if (kind == "line" and prev and prev["kind"] == "code" and _CJK.match(chars[0]["text"])
                and abs(size - prev["size"]) < 0.1 and ln["top"] - prev["bottom"] < 0.5 * size):
            kind = "code"  # a CJK comment wrapped onto its own line: the code's size, right under it
        items.append({"kind": kind, "top": ln["top"], "bottom": ln["bottom"], "x1": ln["x1"], "text": text,
                      "size": size, "bullet": kind == "line" and any(
                          ln["top"] <= mid <= ln["bottom"] and 0 <= ln["x0"] - right <= 2 * size
                          for mid, right in bullets)})
    for t in tables:
        rows = [[_cell_text(c or "") for c in row] for row in t.extract()]
        if rows and any(any(r) for r in rows):
            items.append({"kind": "table", "top": t.bbox[1], "bottom": t.bbox[3], "x1": t.bbox[2],
                          "text": markdown_table(rows), "size": 0})
    items.sort(key=lambda it: it["top"])
    return items


def _pdf_page_text(items: list[dict], body: float, level: dict) -> str:
    """Lines of a paragraph one per line (clean.py joins them), blocks apart by a blank line:
    a gap wider than the line spacing, a short line ending a sentence, a heading, a table."""
    right = max((it["x1"] for it in items if it["kind"] == "line"), default=0)
    out: list[str] = []
    prev = None
    for it in items:
        kind = it["kind"]
        if kind == "line" and round(it["size"]) in level:
            kind, text = "heading", it["text"]
        else:
            text = it["text"]
        if prev is not None:
            same = kind == prev["kind"] and kind in ("line", "heading", "code")
            gap = it["top"] - prev["bottom"]
            ended = prev["text"].rstrip().endswith((".", "。", "!", "！", "?", "？", ":", "：")) \
                and prev["x1"] < right - 2 * body
            if same and kind == "heading" and round(it["size"]) == round(prev["size"]) and gap < body:
                out[-1] += " " + text  # a heading wrapped over two lines
                prev = it
                continue
            if same and kind != "heading" and gap < 0.9 * body and not ended and not it.get("bullet"):
                out.append("\n" + text)
                prev = {**it, "kind": kind}
                continue
            out.append("\n\n")
        if it.get("bullet"):
            text = "- " + text  # a list item starts a block of its own, as Markdown
        out.append("#" * level[round(it["size"])] + " " + text if kind == "heading" else text)
        prev = {**it, "kind": kind}
    text = "".join(out)
    return _fence_code(text, items)


def _fence_code(text: str, items: list[dict]) -> str:
    """Monospace lines were kept one per line; fence them so no line is joined."""
    code = {it["text"] for it in items if it["kind"] == "code"}
    if not code:
        return text
    out: list[tuple[bool, str]] = []
    for b in text.split("\n\n"):
        is_code = all(ln in code for ln in b.split("\n"))
        if is_code and out and out[-1][0]:  # one block of code, even with gaps between its lines
            out[-1] = (True, out[-1][1] + "\n" + b)
        else:
            out.append((is_code, b))
    return "\n\n".join("```\n" + b + "\n```" if is_code else b for is_code, b in out)


def _cell_text(cell: str) -> str:
    """A table cell's wrapped lines joined as the cleaner joins a paragraph's: no space
    beside a CJK character (a space there splits Chinese words), a space elsewhere."""
    out = ""
    for line in (ln.strip() for ln in cell.split("\n")):
        if line:
            out += ("" if not out or _CJK.match(out[-1]) or _CJK.match(line[0]) else " ") + line
    return out


def markdown_table(rows: list[list[str]]) -> str:
    width = max(len(r) for r in rows)
    rows = [[c.replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


# ---- HTML-based: DOCX, HTML, EPUB -----------------------------------------------------

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def plain_inline(md: str) -> str:
    """Bold and inline-code marks off (outside code fences): they are the document's
    typography, not its words, and an extractive answer quotes the words."""
    parts = re.split(r"(^```.*?^```)", md, flags=re.S | re.M)
    return "".join(p if p.startswith("```") else _INLINE_CODE.sub(r"\1", _BOLD.sub(r"\2", p)) for p in parts)


def html_to_markdown(html: str) -> str:
    """Headings as # lines, tables as Markdown tables, lists, code fences; links and images
    reduced to their text (markdownify)."""
    from markdownify import markdownify

    md = markdownify(html, heading_style="ATX", bullets="-", strip=["a", "img"], escape_asterisks=False,
                     escape_underscores=False, escape_misc=False, table_infer_header=True)
    return plain_inline(re.sub(r"\n{3,}", "\n\n", md).strip())


def read_docx(path: Path) -> Extracted:
    import mammoth

    with open(path, "rb") as fh:
        html = mammoth.convert_to_html(fh).value
    return Extracted([html_to_markdown(html)], paged=False)


def read_html(path: Path) -> Extracted:
    """The page's main content (trafilatura drops navigation, footers, comments, ads)."""
    import lxml.html
    import trafilatura

    data = path.read_bytes()
    tree = lxml.html.document_fromstring(data)
    # trafilatura keeps headings only inside a content container; a page without one
    # (pandoc's, many exported pages) gets its body wrapped in an <article>. fast: no second
    # opinion from its fallback extractors, which cost as much again and drop headings.
    body = tree.find("body")
    if body is not None and not tree.xpath("//main|//article"):
        article = lxml.html.Element("article")
        article.text, body.text = body.text, None
        for child in list(body):
            article.append(child)
        body.append(article)
    md = trafilatura.extract(tree, output_format="markdown", include_formatting=True, include_tables=True,
                             include_links=False, include_images=False, include_comments=False,
                             favor_precision=True, fast=True) or ""
    return Extracted([plain_inline(_MD_ESCAPE.sub(r"\1", md).strip())], paged=False)


def read_epub(path: Path) -> Extracted:
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(str(path), options={"ignore_ncx": True})
    parts = []
    for idref, _ in book.spine:  # reading order
        item = book.get_item_with_id(idref)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            md = html_to_markdown(item.get_content().decode("utf-8", "replace"))
            if md:
                parts.append(md)
    return Extracted(["\n\n".join(parts)], paged=False)


# ---- PPTX -------------------------------------------------------------------------------

_PH, _PPR, _SP = ("{http://schemas.openxmlformats.org/presentationml/2006/main}ph",
                  "{http://schemas.openxmlformats.org/drawingml/2006/main}pPr",
                  "{http://schemas.openxmlformats.org/presentationml/2006/main}sp")


def read_pptx(path: Path) -> Extracted:
    """One page per slide: the title as a heading, each paragraph a line, tables."""
    from pptx import Presentation

    pages = []
    for slide in Presentation(str(path)).slides:
        title, blocks = None, []
        # one pass over the slide's XML (lxml's iter by tag) finds the title placeholders and
        # the shapes with indented (list) paragraphs: asking each shape for its placeholder
        # type was two XPath queries a shape, and reading `paragraph.level` adds a
        # properties element to each paragraph that has none
        titled, indented = set(), set()
        for el in slide.element.iter(_PH, _PPR):
            if (el.get("type") in ("title", "ctrTitle") if el.tag == _PH else el.get("lvl", "0") != "0"):
                (titled if el.tag == _PH else indented).add(next(el.iterancestors(_SP), None))
        for shape in _shapes(slide.shapes):
            if shape.has_text_frame:
                if title is None and shape.element in titled:
                    title = shape.text_frame.text.strip()
                    if title:
                        blocks.insert(0, f"## {title}")
                    continue
                if shape.element in indented:
                    lines = [("- " if p.level else "") + p.text.strip() for p in shape.text_frame.paragraphs]
                else:  # the frame's text is its paragraphs joined by newlines (a line break is \v)
                    lines = [ln.strip() for ln in shape.text_frame.text.split("\n")]
                if text := "\n\n".join(ln for ln in lines if ln.strip()):
                    blocks.append(text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = [[c.text.replace("\n", " ").strip() for c in r.cells] for r in shape.table.rows]
                if rows:
                    blocks.append(markdown_table(rows))
        pages.append("\n\n".join(blocks))
    return Extracted(pages, paged=True)


def _shapes(shapes):
    from pptx.shapes.group import GroupShape

    for s in shapes:
        if isinstance(s, GroupShape):  # its members, in order (`shape_type` costs an XPath query a shape)
            yield from _shapes(s.shapes)
        else:
            yield s
