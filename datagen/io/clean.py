"""One cleaner for every reader's output (readers.py): page texts in, one text and the
offset where each page starts out.

- Running headers, footers and page numbers (a line at the top or bottom of most pages,
  digits aside) are dropped.
- Lines wrapped inside a paragraph are joined: English with a space, a word hyphenated
  at the line end put back together (de-hyphenated when the document spells it so
  elsewhere, else the hyphen stays: "model-generated"); Chinese with no space. A sentence
  running over a page break is joined the same way. Spaces between two CJK characters
  (a PDF's glyph gaps) go.
- Markdown block lines stay as they are: headings, table rows, list items, code fences.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# CJK ideographs, kana, hangul, and the full-width punctuation that goes with them
CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_CJK_CHAR = re.compile(f"[{CJK}]")
_CJK_SPACE = re.compile(f"(?<=[{CJK}])[ \t\u00a0]+(?=[{CJK}])")
_BLOCK_START = re.compile(r"\s*(#{1,6}\s|\||```|~~~|>|[-*+]\s|\d{1,3}[.)]\s)")
_PAGE_NUMBER = re.compile(r"^\s*(?:(?:page|p\.)\s*)?[-–—(]?\s*\d{1,4}\s*[-–—)]?\s*(?:(?:/|of)\s*\d{1,4})?\s*$"
                          r"|^\s*第\s*\d{1,4}\s*页(?:\s*[/，,]?\s*共\s*\d{1,4}\s*页)?\s*$", re.I)
_SENTENCE_END = re.compile(r"[.!?。！？…:：;；][\"'”’」』)）\]]*$")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be running heads


def clean_pages(pages: list[str], paged: bool = True) -> tuple[str, list[int]]:
    """(text, page starts): `text[starts[i]:starts[i+1]]` is page i + 1 (empty pages
    start where the next one does). For a flowing document pass one page."""
    lines_by_page = [p.replace("\r\n", "\n").replace("\r", "\n").split("\n") for p in pages]
    if paged and len(pages) > 1:
        lines_by_page = drop_running_lines(lines_by_page)
    # the words the document spells whole, for de-hyphenation: built when first needed
    vocab = _LazyVocabulary(lambda: "\n".join("\n".join(ls) for ls in lines_by_page))
    out: list[str] = []  # pieces of the final text
    size = 0
    starts: list[int] = []
    prev = ""  # the last line written, "" after a block break
    in_fence = False
    for lines in lines_by_page:
        starts.append(-1)
        if prev and ends_sentence(prev):  # a page break after a full sentence ends the paragraph
            prev = ""
        for raw in lines:
            line = raw.rstrip()
            fence = line.lstrip().startswith(("```", "~~~"))
            if not in_fence:
                line = _CJK_SPACE.sub("", line).strip() if not line.lstrip().startswith("|") else line.strip()
            if not line.strip():
                if not in_fence:
                    prev = ""  # a blank line ends the paragraph
                    continue
            if size == 0:
                sep = ""
            elif in_fence:
                sep = "\n"
            elif not prev or fence or _BLOCK_START.match(line) or _is_block(prev):
                sep = "\n\n" if not (_BLOCK_START.match(line) and _same_block(prev, line)) else "\n"
            else:
                sep, unhyphen = _join(prev, line, vocab)
                if unhyphen:  # a word split over two lines: its hyphen goes
                    out[-1] = out[-1][:-1]
                    size -= 1
            if starts[-1] < 0:
                starts[-1] = size + len(sep)
            out.append(sep + line)
            size += len(sep) + len(line)
            prev = line
            if fence:
                in_fence = not in_fence
                if not in_fence:
                    prev = ""
        if in_fence:  # a code block does not run across a page in our readers; close it
            out.append("\n```")
            size += 4
            in_fence, prev = False, ""
    text = "".join(out)
    # an empty page starts where the next page does
    for i in range(len(starts) - 1, -1, -1):
        if starts[i] < 0:
            starts[i] = starts[i + 1] if i + 1 < len(starts) else len(text)
    return text, starts if paged else []


def _is_block(line: str) -> bool:
    """A line nothing is joined onto: a heading, a table row, a fence."""
    s = line.lstrip()
    return s.startswith(("#", "|", "```", "~~~"))


def _same_block(prev: str, line: str) -> bool:
    """Consecutive table rows or list items stay on neighbouring lines."""
    if not prev:
        return False
    p, s = prev.lstrip(), line.lstrip()
    if p.startswith("|") and s.startswith("|"):
        return True
    return bool(re.match(r"([-*+]|\d{1,3}[.)])\s", s)) and not p.startswith(("#", "|", "```"))


def _join(prev: str, line: str, vocab: "_LazyVocabulary") -> tuple[str, bool]:
    """The separator between a wrapped line and the next, and whether the previous line's
    final hyphen goes (a word split over two lines, spelt whole elsewhere)."""
    a, b = prev[-1], line[0]
    if a == "-" and len(prev) > 1 and prev[-2].isalnum() and b.isalnum():
        head = re.search(r"([A-Za-z]+)-$", prev)
        tail = re.match(r"[a-z]+", line)
        whole = head and tail and (head.group(1) + tail.group(0)).lower() in vocab \
            and f"{head.group(1)}-{tail.group(0)}".lower() not in vocab
        return "", bool(whole)
    if _CJK_CHAR.match(a) or _CJK_CHAR.match(b):
        return "", False
    return " ", False


class _LazyVocabulary:
    def __init__(self, text):
        self._text, self._words = text, None

    def __contains__(self, word: str) -> bool:
        if self._words is None:
            self._words = _vocabulary(self._text())
        return word in self._words


def _vocabulary(text: str) -> set[str]:
    """Words (and hyphenated compounds) written whole somewhere in the document, lower-cased,
    except those split at a line end, which are what is being decided."""
    whole = re.sub(r"[A-Za-z]+-\n[A-Za-z]+", " ", text)
    return {w.lower() for w in _WORD.findall(whole)}


def _edge_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines that repeat at the top or the bottom of most pages (digits aside, so
    "Page 3 of 9" repeats), and lone page numbers there. Headings, table rows and code
    fences are content, never running heads."""
    n = len(pages)
    seen: Counter = Counter()
    for lines in pages:
        keys = {_edge_key(ln) for ln in _edges(lines) if ln.strip()}
        seen.update(keys)
    need = max(2, math.ceil(0.5 * n))
    running = {k for k, c in seen.items() if c >= need}
    out = []
    for lines in pages:
        idx = [i for i, ln in enumerate(lines) if ln.strip() and not _is_block(ln)]
        k = _edge_count(len(idx))
        edge = set(idx[:k] + idx[-k:])
        out.append([ln for i, ln in enumerate(lines)
                    if i not in edge or not (_edge_key(ln) in running or _PAGE_NUMBER.match(ln))])
    return out


def _edge_count(n: int) -> int:
    """Lines at each edge that may be running heads: 2, or 1 on a short page (a slide),
    where the second line is already body text."""
    return EDGE_LINES if n > 3 * EDGE_LINES else 1


def _edges(lines: list[str]) -> list[str]:
    nonblank = [ln for ln in lines if ln.strip() and not _is_block(ln)]
    k = _edge_count(len(nonblank))
    return nonblank[:k] + nonblank[-k:]


def ends_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line.rstrip()))
