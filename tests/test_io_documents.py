"""Reading documents and chunking them for Self-QA: pure functions, no model."""

from __future__ import annotations

import pytest

from datagen.io.documents import chunk_text, load_documents, prose_ratio, read_documents, table_to_prose
from datagen.errors import DataError

MD = """# Tea

Tea is a drink made from the leaves of Camellia sinensis. It is drunk all over the world.

## Green tea

Green tea is not oxidised. The leaves are heated soon after picking, which keeps them green.

## Black tea

Black tea is fully oxidised before drying. It has a stronger taste than green tea.
"""


def assert_exact(text, chunks, max_chars):
    for c in chunks:
        assert text[c.start:c.end] == c.text  # offsets map back to the source exactly
        assert len(c.text) <= max_chars
        assert c.text == c.text.strip()
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # always moves forward


def test_chunks_break_at_headings_and_carry_them():
    chunks = chunk_text(MD, max_chars=200, overlap=0, doc_id="tea.md")
    assert_exact(MD, chunks, 200)
    assert [c.text.splitlines()[0] for c in chunks] == ["# Tea", "## Green tea", "## Black tea"]
    assert [c.heading for c in chunks] == ["Tea", "Green tea", "Black tea"]
    assert chunks[1].ref == f"tea.md@{chunks[1].start}-{chunks[1].end}"


def test_whole_text_in_one_chunk_when_it_fits():
    chunks = chunk_text("One paragraph.\n\nAnother one.", max_chars=1000)
    assert len(chunks) == 1 and chunks[0].text == "One paragraph.\n\nAnother one."


def test_overlap_repeats_whole_trailing_paragraphs():
    paras = [f"Paragraph {i} says something short." for i in range(12)]
    text = "\n\n".join(paras)
    chunks = chunk_text(text, max_chars=120, overlap=40)
    assert_exact(text, chunks, 120)
    covered = set()
    for c in chunks:
        covered.update(i for i, p in enumerate(paras) if p in c.text)
    assert covered == set(range(12))  # nothing lost
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # neighbours share text ...
        shared = text[b.start:a.end]
        assert shared in paras  # ... exactly one whole paragraph (35 chars <= overlap 40)
    no_overlap = chunk_text(text, max_chars=120, overlap=0)
    assert all(b.start > a.end for a, b in zip(no_overlap, no_overlap[1:]))


def test_long_paragraph_splits_at_sentences_then_hard():
    sentences = " ".join(f"Sentence number {i} ends here." for i in range(30))
    chunks = chunk_text(sentences, max_chars=100, overlap=0)
    assert_exact(sentences, chunks, 100)
    assert all(c.text.endswith("here.") for c in chunks)
    zh = "。".join(f"第{i}句话讲述了一件事情" for i in range(40)) + "。"
    zchunks = chunk_text(zh, max_chars=60, overlap=0)
    assert_exact(zh, zchunks, 60)
    assert all(c.text.endswith("。") for c in zchunks)
    runon = "word " * 100
    rchunks = chunk_text(runon, max_chars=50, overlap=0)
    assert_exact(runon, rchunks, 50)
    assert "".join(c.text.replace(" ", "") for c in rchunks) == runon.replace(" ", "")


def test_bad_chunk_settings():
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=10)
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=100, overlap=100)


def test_read_folder_of_mixed_formats(tmp_path):
    (tmp_path / "a.md").write_text(MD, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("中文文档的内容。", encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text('{"id": "x1", "text": "First row."}\n\n{"text": "Second row."}\n',
                                         encoding="utf-8")
    (tmp_path / "t.tsv").write_text("name\tcolour\napple\tred\nlime\tgreen\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")  # skipped in a folder
    (tmp_path / ".hidden.txt").write_text("secret", encoding="utf-8")
    found = load_documents(tmp_path)
    docs = {d.doc_id: d for d in found.documents}
    assert sorted(docs) == ["a.md", "rows.jsonl#3", "rows.jsonl#x1", "sub/b.txt", "t.tsv"]
    assert found.skipped == {"image.png": "unsupported type '.png'"}  # named, never silently dropped
    assert docs["t.tsv"].text == "name: apple; colour: red.\n\nname: lime; colour: green."
    assert docs["rows.jsonl#x1"].text == "First row."


def test_table_to_prose_chinese_and_errors(tmp_path):
    assert table_to_prose("药名,用途\n阿司匹林,止痛\n") == "药名：阿司匹林；用途：止痛。"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_documents(bad)
    assert e.value.line == 3 and "3 cells" in e.value.problem


def test_reading_errors_name_file_and_line(tmp_path):
    rows = tmp_path / "d.jsonl"
    rows.write_text('{"text": "ok"}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_documents(rows)
    assert (e.value.line, e.value.problem) == (2, "missing field 'text'")
    rows.write_text('{"body": "text under another name"}\n', encoding="utf-8")
    assert read_documents(rows, text_field="body")[0].text == "text under another name"
    latin1 = tmp_path / "old.txt"
    latin1.write_bytes("first line\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        read_documents(latin1)
    assert e.value.line == 2 and "UTF-8" in e.value.problem
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_documents(tmp_path / "x.pdf")
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(DataError, match="unsupported document type"):
        read_documents(tmp_path / "x.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no .* files found"):
        read_documents(empty)
    (empty / "blank.md").write_text("  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="blank.md: no text found"):
        read_documents(empty)  # on_bad_doc="fail": the first unreadable file stops it
    with pytest.raises(DataError, match=r"no documents with text found \(1 skipped; blank.md: no text found\)"):
        load_documents(empty)
    with pytest.raises(DataError, match="not found"):
        read_documents(tmp_path / "missing")


def test_prose_ratio_flags_markup():
    assert prose_ratio("LoRA trains small matrices.") > 0.9
    assert prose_ratio("| --- | --- | --- |\n| - | - | - |") < 0.2


def test_real_corpus_chunks_map_back(corpora):
    docs = read_documents(corpora / "docs")
    assert len(docs) == 8
    for d in docs:
        chunks = chunk_text(d.text, max_chars=800, overlap=120, doc_id=d.doc_id)
        assert_exact(d.text, chunks, 800)
        # every non-space character of the document lands in some chunk
        covered = bytearray(len(d.text))
        for c in chunks:
            covered[c.start:c.end] = b"\x01" * (c.end - c.start)
        assert all(covered[i] or d.text[i].isspace() for i in range(len(d.text)))


def test_a_comment_in_a_code_block_is_not_a_heading_and_the_block_stays_whole():
    from datagen.io.documents import chunk_text

    code = "```\n# 1. Generate instructions\n./generate.sh\n\n# 2. Filter them\n./filter.sh\n```"
    text = "## Usage\n\nHere are the scripts for the data:\n\n" + code + "\n\n## Next\n\nMore prose here."
    chunks = chunk_text(text, max_chars=200, overlap=0)
    assert [c.heading for c in chunks] == ["Usage", "Next"]
    assert code in chunks[0].text and all(text[c.start:c.end] == c.text for c in chunks)
    # a block too long for one chunk is cut between its lines, never under a comment as a heading
    long = chunk_text("## Usage\n\n" + "```\n" + "\n".join(f"# step {i}\nrun {i}" for i in range(40)) + "\n```",
                      max_chars=100, overlap=0)
    assert len(long) > 3 and {c.heading for c in long} == {"Usage"}
