"""What a version's table asks of its index: the query (filters, sort, page) from the URL,
and the search box's text as an FTS5 expression.

Search is English words and Chinese substrings alike: every CJK character is indexed as a
token of its own (unicode61 tokenizer), so a query becomes one phrase of words and single
characters. A run of Chinese characters matches wherever it occurs; English matches whole
words, the last one as a prefix ("river" finds "rivers").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
CJK_RE = re.compile(f"[{CJK}]")
QUERY_TOKEN_RE = re.compile(f"[{CJK}]|[^\\W{CJK}]+")


def search_tokens(text: str) -> str:
    """Text as the index sees it: every CJK character a word of its own."""
    return CJK_RE.sub(lambda m: f" {m.group(0)} ", text)


def match_expression(q: str) -> str | None:
    """The FTS5 query for a search box string: one phrase of its words and CJK characters,
    the last word a prefix. None when it has nothing to search for."""
    tokens = QUERY_TOKEN_RE.findall(q)
    if not tokens:
        return None
    phrase = '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'
    return phrase + ("*" if not CJK_RE.fullmatch(tokens[-1]) else "")


@dataclass
class Query:
    """A filtered, sorted page of a version's records (the table's URL parameters)."""

    q: str = ""
    source: str = ""
    task_type: str = ""
    turns: str = ""  # "1", "2", … or "multi"
    lang: str = ""
    score: str = ""  # the score the range applies to
    min: float | None = None
    max: float | None = None
    review: str = ""  # accept | reject | edit | unreviewed
    sort: str = ""  # "" (file order) or a score name
    desc: bool = True
    page: int = 1
    per_page: int = 50
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, params) -> "Query":
        from .refs import BadRequest

        def num(key):
            v = params.get(key)
            if v in (None, ""):
                return None
            try:
                return float(v)
            except ValueError:
                raise BadRequest(f"{key}: not a number: {v[:30]!r}") from None

        try:
            page = max(1, int(params.get("page") or 1))
            per_page = min(500, max(1, int(params.get("per_page") or 50)))
        except ValueError:
            raise BadRequest("page and per_page must be whole numbers") from None
        review = params.get("review") or ""
        if review not in ("", "accept", "reject", "edit", "unreviewed"):
            raise BadRequest(f"review: one of accept, reject, edit, unreviewed (got {review[:20]!r})")
        return cls(q=(params.get("q") or "").strip()[:200], source=params.get("source") or "",
                   task_type=params.get("task_type") or "", turns=params.get("turns") or "",
                   lang=params.get("lang") or "", score=params.get("score") or "", min=num("min"), max=num("max"),
                   review=review, sort=params.get("sort") or "", desc=params.get("order", "desc") != "asc",
                   page=page, per_page=per_page)

    def params(self) -> dict[str, str]:
        """The non-default parameters, for links (page numbers, filters kept)."""
        out = {k: str(getattr(self, k)) for k in ("q", "source", "task_type", "turns", "lang", "score", "review", "sort")
               if getattr(self, k)}
        for k in ("min", "max"):
            if getattr(self, k) is not None:
                out[k] = f"{getattr(self, k):g}"
        if not self.desc:
            out["order"] = "asc"
        return out
