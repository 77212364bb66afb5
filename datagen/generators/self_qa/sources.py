"""Self-QA's inputs: documents read, bad ones listed, each document's language, chunks.

Every file of `--docs` is read or listed with its reason (`report.skipped`, one warning
line each on stderr). Language is decided per document: under `--lang auto` each is asked
about in its own language; under a fixed `--lang`, a document in the other language is
skipped here, before any request is paid for.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass

from ...errors import DataError
from ...io.documents import Chunk, Document, chunk_documents, load_documents, prose_ratio
from ...text import detect_lang
from ..base import GenerationReport

log = logging.getLogger(__name__)


@dataclass
class Sources:
    documents: list[Document]
    chunks: list[Chunk]  # the chunks worth asking about
    doc_lang: dict[str, str]  # doc_id -> en | zh


_NOT_PROSE = re.compile(r"(?ms)^[ \t]{0,3}(```|~~~).*?^[ \t]{0,3}\1|`[^`\n]*`|https?://\S+|<[^>\n]+>")


def document_lang(text: str) -> str:
    """A document's language by its prose: code, inline code, URLs and HTML tags left out
    (a Chinese README is a third CJK by characters, most of its code and links Latin)."""
    return detect_lang(_NOT_PROSE.sub(" ", text))


def load_sources(cfg, report: GenerationReport, map_fn=None) -> Sources:
    """Read `cfg.docs`, note skipped files in `report`, chunk what is kept. `map_fn`: where
    documents not in the conversion cache are converted (io/convert.py)."""
    found = load_documents(cfg.docs, cfg.text_field, cfg.on_bad_doc, map_fn=map_fn)
    skipped = dict(found.skipped)
    doc_lang = {d.doc_id: document_lang(d.text) for d in found.documents}
    docs = found.documents
    if cfg.lang != "auto":
        other = [d for d in docs if doc_lang[d.doc_id] != cfg.lang]
        for d in other:
            skipped[d.doc_id] = f"written in {doc_lang[d.doc_id]}, not --lang {cfg.lang} (use --lang auto to ask " \
                                "each document in its own language)"
        docs = [d for d in docs if doc_lang[d.doc_id] == cfg.lang]
        if not docs:
            raise DataError(cfg.docs, None, f"no document in --lang {cfg.lang} "
                                            f"({len(other)} in another language; try --lang auto)")
    for doc, reason in skipped.items():
        log.warning("self-qa: skipped %s: %s", doc, reason)
    report.skipped.update(skipped)
    all_chunks = chunk_documents(docs, cfg.chunk_chars, cfg.overlap)
    chunks = [c for c in all_chunks if len(c.text) >= cfg.min_chunk_chars and prose_ratio(c.text) >= cfg.min_prose]
    report.inputs = sorted({d.path for d in docs})
    report.counts.update(documents=len(docs), documents_skipped=len(skipped), chunks=len(all_chunks),
                         chunks_skipped=len(all_chunks) - len(chunks))
    if not chunks:
        raise DataError(cfg.docs, None, f"no chunk of at least {cfg.min_chunk_chars} characters "
                                        "of prose to ask questions about")
    return Sources(docs, chunks, {d.doc_id: doc_lang[d.doc_id] for d in docs})


def covered_chunks(records) -> frozenset:
    """(doc, start, end) of the chunks Self-QA `records` came from (their meta.doc / meta.chunk)."""
    return frozenset((m.get("doc"), *m["chunk"]) for r in records
                     if (m := r.meta or {}).get("source") == "self-qa"
                     and isinstance(m.get("chunk"), list) and len(m["chunk"]) == 2)


def chunk_order(chunks: list[Chunk], seed: int, covered: frozenset = frozenset()) -> list[Chunk]:
    """Shuffled by the seed, so a run samples across documents, not the first one only; in
    a refresh, the chunks `covered` by the parent's records go last. On the same documents
    they give back questions the parent holds, each paid for (question and answer) and then
    dropped as a duplicate: a refresh at --num 80 cost 358 requests against 224."""
    order = list(chunks)
    random.Random(seed).shuffle(order)
    if covered:  # a stable sort: the seed's order within each part
        order.sort(key=lambda c: (c.doc_id, c.start, c.end) in covered)
    return order
