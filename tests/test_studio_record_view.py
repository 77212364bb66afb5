"""datagen/studio/record_view.py on what `datagen run self-qa` really writes: over the real
PDF/Word/HTML/EPUB corpus (relative --docs, as `make run` is started from the repository
root), every record's provenance finds its chunk and highlights exactly its answer."""

import shutil

import pytest
from click.testing import CliRunner

pytest.importorskip("pdfplumber")

from datagen.cli import main  # noqa: E402
from datagen.store import DatasetStore  # noqa: E402
from datagen.studio.record_view import lineage_view, provenance_view, scores_view  # noqa: E402
from datagen.studio.views import record_page_view  # noqa: E402


def test_self_qa_provenance_highlights_the_answer_in_its_document(stub, corpora, tmp_path, monkeypatch):
    stub.responder = lambda body: "What does this say: " + body["messages"][-1]["content"].split(": ", 1)[-1][:60] + "?"
    (tmp_path / "formats").mkdir()
    for name in ("self_instruct_README.pdf", "self_instruct_README.docx"):  # a paged format and an unpaged one
        shutil.copy(corpora / "formats" / name, tmp_path / "formats" / name)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["run", "self-qa", "--docs", "formats", "--base-url", stub.url, "--num", "8",
                                    "--no-embed", "--rouge", "1.0", "--answer-mode", "extractive",
                                    "--dataset", "fmt", "--store", "datasets"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    monkeypatch.chdir(tmp_path.parent)  # the studio started somewhere else
    store = DatasetStore(tmp_path / "datasets")
    records = store.read("fmt")
    assert len(records) >= 4
    assert {r.meta["doc"] for r in records} == {"self_instruct_README.pdf", "self_instruct_README.docx"}
    for r in records:
        view = record_page_view(store, "fmt", "v0001", r.id)["provenance"]
        assert view["kind"] == "self-qa" and view["found"], view
        assert view["answer"] == r.output and view["path"].endswith(r.meta["doc"].split("#")[0])
        assert (view["before"] + view["answer"] + view["after"]).strip()
        assert view["page"] == r.meta.get("page")  # PDF and PPTX records name their page


def test_a_changed_document_is_not_shown_at_stale_offsets(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("One sentence here. Another one there.", encoding="utf-8")
    from datagen.records import Record
    from datagen.store import file_sha256

    store = DatasetStore(tmp_path / "store")
    rec = Record(instruction="q", output="Another one there.",
                 meta={"doc": "a.md", "chunk": [0, 37], "answer_span": [19, 37]})
    with store.lock("d"):
        dv = store.publish("d", [rec], [], {"inputs": {str(doc): file_sha256(doc)}})
    assert provenance_view(dv, rec.meta)["answer"] == "Another one there."
    doc.write_text("Something else entirely, at other offsets.", encoding="utf-8")
    view = provenance_view(dv, rec.meta)
    assert not view["found"] and view["answer"] == ""


def test_scores_and_lineage_views():
    meta = {"scores": {"judge": {"value": 4, "reason": "clear"}, "ifd": 0.7}, "seed_id": "s",
            "lineage": [{"id": "s", "instruction": "x", "method": ""}, "junk"]}
    assert scores_view(meta) == [{"name": "judge", "value": 4, "reason": "clear", "aspects": {}},
                                 {"name": "ifd", "value": 0.7, "reason": "", "aspects": {}}]
    assert [s["id"] for s in lineage_view(meta)["chain"]] == ["s"] and lineage_view({}) is None


def test_a_preference_pair_and_a_reasoning_trace_show_on_the_record_page(tmp_path):
    pytest.importorskip("starlette")
    import httpx

    from datagen.records import Record
    from datagen.studio import create_app
    from studio_store import live_server

    store = DatasetStore(tmp_path / "store")
    pair = Record(instruction="Name a colour.", output="Red.", meta={
        "chosen_model": "strong", "rejected_model": "weak", "margin": 1.0,
        "judge": {"reasons": ["A is a colour; B is <b>not</b>."], "verdicts": ["A", "B"]}},
        extra={"prompt": "Name a colour.", "chosen": "Red.", "rejected": "<script>x()</script>"})
    thought = Record(instruction="What is 2 + 2?", output="4", meta={"reasoning": "Two and two <make> four."})
    with store.lock("p"):
        store.publish("p", [pair, thought], [], {"stage": "prefs"})
    with live_server(create_app(store.root)) as url:
        page = httpx.get(f"{url}/d/p/v0001/r/{pair.id}").text
        think = httpx.get(f"{url}/d/p/v0001/r/{thought.id}").text
    assert "preference pair" in page and 'id="f-chosen">Red.</pre>' in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page
    assert "strong" in page and "weak" in page and "judge: A is a colour; B is &lt;b&gt;not&lt;/b&gt;." in page
    assert 'id="f-reasoning">Two and two &lt;make&gt; four.</pre>' in think and 'id="f-output">4</pre>' in think


def test_a_document_in_a_subfolder_of_the_docs_is_found(tmp_path):
    from datagen.records import Record
    from datagen.store import file_sha256

    (tmp_path / "docs" / "sub").mkdir(parents=True)
    doc = tmp_path / "docs" / "sub" / "a.md"
    doc.write_text("One sentence here. Another one there.", encoding="utf-8")
    (tmp_path / "docs" / "a.md").write_text("A different file, same name.", encoding="utf-8")
    store = DatasetStore(tmp_path / "store")
    rec = Record(instruction="q", output="Another one there.",
                 meta={"doc": "sub/a.md", "chunk": [0, 37], "answer_span": [19, 37]})  # doc ids are relative to --docs
    inputs = {str(p): file_sha256(p) for p in (tmp_path / "docs" / "a.md", doc)}
    with store.lock("d"):
        dv = store.publish("d", [rec], [], {"inputs": inputs})
    view = provenance_view(dv, rec.meta)
    assert view["found"] and view["answer"] == "Another one there." and view["path"] == str(doc)
