"""Document conversion speed: datagen's readers + cleaner (datagen/io/convert.py) against
calling the chosen library directly, per format, interleaved; and a cached rerun over the
whole folder. Writes bench/results/docs.json.

"Direct" is the least a user would write with the same library: pdfplumber's
`page.extract_text()` per page, mammoth + markdownify, trafilatura's Markdown, ebooklib +
markdownify per chapter, python-pptx's text frames. The target: overhead <= 1.2x.
"""

import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "docs.json"
FORMATS = ROOT.parent / "shared" / "corpora" / "formats"
ROUNDS = int(os.environ.get("BENCH_DOCS_ROUNDS", "5"))
sys.path.insert(0, str(ROOT))


def direct_pdf(path):
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages)


def direct_docx(path):
    import mammoth
    from markdownify import markdownify

    with open(path, "rb") as fh:
        return markdownify(mammoth.convert_to_html(fh).value, heading_style="ATX")


def direct_html(path):
    import trafilatura

    return trafilatura.extract(path.read_bytes(), output_format="markdown", include_tables=True,
                               include_formatting=True)


def direct_epub(path):
    import ebooklib
    from ebooklib import epub
    from markdownify import markdownify

    book = epub.read_epub(str(path), options={"ignore_ncx": True})
    return "\n\n".join(markdownify(i.get_content().decode(), heading_style="ATX")
                       for i in book.get_items_of_type(ebooklib.ITEM_DOCUMENT))


def direct_pptx(path):
    from pptx import Presentation

    return "\n\n".join(s.text_frame.text for slide in Presentation(str(path)).slides
                       for s in slide.shapes if s.has_text_frame)


def make_deck(path: Path, slides: int = 200) -> None:
    from pptx import Presentation

    prs = Presentation()
    text = (FORMATS.parent / "docs" / "self_instruct_README.md").read_text(encoding="utf-8").split("\n\n")
    for i in range(slides):
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = f"Slide {i + 1}"
        s.placeholders[1].text = text[i % len(text)][:600]
    prs.save(path)


def pages_of(path: Path) -> int:
    if path.suffix == ".pdf":
        import pdfplumber

        with pdfplumber.open(path) as pdf:
            return len(pdf.pages)
    if path.suffix == ".pptx":
        from pptx import Presentation

        return len(Presentation(str(path)).slides)
    return 1  # a flowing document counts as one


def main():
    from datagen.io import convert
    from datagen.io.documents import load_documents

    direct = {".pdf": direct_pdf, ".docx": direct_docx, ".html": direct_html, ".epub": direct_epub,
              ".pptx": direct_pptx}
    results = {"rounds": ROUNDS, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        deck = Path(tmp) / "deck.pptx"
        make_deck(deck)
        files = {ext: [p for p in sorted(FORMATS.glob(f"*{ext}")) if not p.name.startswith(("scan", "head"))]
                 for ext in direct}
        files[".pptx"] = [deck]
        only = os.environ.get("BENCH_DOCS_FORMATS")  # e.g. "docx,pptx" to rerun a few
        for ext, paths in files.items():
            if only and ext[1:] not in only.split(","):
                continue
            pages = sum(pages_of(p) for p in paths)
            for p in paths:  # warm up: imports and first-call setup count for neither side
                convert.convert_file(p), direct[ext](p)
            ours, theirs = [], []
            for r in range(ROUNDS):  # interleaved file by file, alternating which goes first
                a = b = 0.0
                for j, p in enumerate(paths):
                    for mine in ((True, False) if (r + j) % 2 == 0 else (False, True)):
                        gc.collect()  # the other side's garbage is not this side's time
                        t = time.perf_counter()
                        convert.convert_file(p) if mine else direct[ext](p)
                        if mine:
                            a += time.perf_counter() - t
                        else:
                            b += time.perf_counter() - t
                ours.append(a)
                theirs.append(b)
            a, b = statistics.median(ours), statistics.median(theirs)
            results["formats"][ext[1:]] = {
                "files": len(paths), "pages": pages, "datagen_s": round(a, 3), "library_s": round(b, 3),
                "datagen_pages_per_s": round(pages / a, 1), "library_pages_per_s": round(pages / b, 1),
                # best round against best round: on a shared, loaded machine the fastest of
                # several interleaved rounds is the cost without other people's load in it
                "overhead": round(min(ours) / min(theirs), 2),
                "overhead_median": round(a / b, 2)}
            print(ext, results["formats"][ext[1:]], flush=True)

        # the whole folder through the conversion cache: cold (process pool), then a rerun
        os.environ["DATAGEN_CACHE_DIR"] = str(Path(tmp) / "cache")
        t = time.perf_counter()
        found = load_documents(FORMATS)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        load_documents(FORMATS)
        warm = time.perf_counter() - t
        results["folder"] = {"files": len(found.documents) + len(found.skipped), "read": len(found.documents),
                             "skipped": len(found.skipped), "cold_s": round(cold, 2),
                             "cached_rerun_s": round(warm, 3), "speedup": round(cold / warm, 1),
                             "cpus": os.cpu_count()}
        print("folder", results["folder"], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
