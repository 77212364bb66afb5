"""Self-QA: prompt parsing and pruning as pure functions, then whole runs through the CLI
against the stub OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.io.documents import Chunk
from datagen.generators.self_qa.parsing import (answer_messages, clean_answer, grounding_score, is_refusal,
                                        parse_questions, question_messages, refers_to_source)
from datagen.store import DatasetStore

TEA = """# Tea

Tea is a drink made from the leaves of Camellia sinensis. It is drunk all over the world.

## Green tea

Green tea is not oxidised. The leaves are heated soon after picking, which keeps them green.

## Black tea

Black tea is fully oxidised before drying. It has a stronger taste than green tea and often
a reddish colour in the cup.
"""

TEA_ZH = """绿茶是不发酵茶，采摘后经过杀青、揉捻和干燥制成。西湖龙井和碧螺春都是著名的绿茶。

红茶是全发酵茶，经过萎凋、揉捻、发酵和干燥制成，茶汤红亮。祁门红茶是著名的红茶。
"""


# ---- pure functions -----------------------------------------------------------------------

def test_parse_numbered_questions():
    text = ("1. What is LoRA?\n2) How does LoRA\n   save memory?\n3、什么是指令微调？\n"
            "4. Question: Why freeze weights? Answer: to save memory\n5. What is LoRA?\n6. Cut off mid")
    assert parse_questions(text, cut_off=True) == [
        "What is LoRA?", "How does LoRA save memory?", "什么是指令微调？", "Why freeze weights?"]
    assert parse_questions("1. **Question:** Where do honeybees live?")[0] == "Where do honeybees live?"
    assert parse_questions("") == []


@pytest.mark.parametrize("text", [
    "According to the passage, what is LoRA?", "What does the text say about tea?",
    "What is described in this article?", "Summarize the above.", "What does the author think of LoRA?",
    "根据上文，绿茶是怎样制成的？", "本文介绍了哪几种茶？", "文中提到的红茶有哪些？", "这篇文章的主题是什么？",
])
def test_self_reference_detected(text):
    assert refers_to_source(text)


@pytest.mark.parametrize("text", [
    "What is LoRA?", "Who is the author of Hamlet?", "Explain the waggle dance of honeybees.",
    "What does this function return when the list is empty?", "绿茶是怎样制成的？", "《红楼梦》的作者是谁？",
])
def test_plain_questions_not_flagged(text):
    assert not refers_to_source(text)


def test_refusals_and_answer_cleaning():
    assert is_refusal("The text does not mention who invented tea.")
    assert is_refusal("NOT ANSWERABLE") and is_refusal("无法回答") and is_refusal("文中没有提到这一点。")
    assert not is_refusal("Tea is drunk all over the world.")
    assert clean_answer("Answer: According to the passage, tea is a drink.") == ("Tea is a drink.", None)
    assert clean_answer("根据背景知识，绿茶是不发酵茶。") == ("绿茶是不发酵茶。", None)
    assert clean_answer("I'm sorry, I cannot answer that.")[1] == "answer_refusal"
    assert clean_answer("The text explains that tea is a drink.")[1] == "answer_refers_to_text"
    assert clean_answer("   ")[1] == "empty_answer"
    # cut off: trimmed to the last sentence when most of it survives, dropped otherwise
    assert clean_answer("Tea is a drink. It comes from Camellia sinensis. It is", cut_off=True) == (
        "Tea is a drink. It comes from Camellia sinensis.", None)
    assert clean_answer("Tea is. It comes from a plant that grows in many warm", cut_off=True)[1] == "answer_cut_off"


def test_grounding_score():
    chunk = "Green tea is not oxidised. The leaves are heated soon after picking, which keeps them green."
    assert grounding_score("The leaves are heated soon after picking.", chunk) == 1.0
    assert grounding_score("Matcha is popular in Japanese ceremonies.", chunk) < 0.2
    assert grounding_score("", chunk) == 0.0
    zh = "绿茶是不发酵茶，采摘后经过杀青、揉捻和干燥制成。"
    assert grounding_score("绿茶经过杀青、揉捻和干燥制成。", zh) > 0.9  # only "茶经" is new
    # single characters would match almost anything; bigrams do not
    assert grounding_score("茶叶起源于云南的深山老林。", zh) < 0.2


def test_prompts_render_in_both_languages():
    c = Chunk("d.md", 0, 10, "Tea facts.")
    en = question_messages(c, 4, "en")[0]["content"]
    assert "Tea facts." in en and "4 different questions" in en
    zh = question_messages(c, 3, "zh")[0]["content"]
    assert "3个不同的问题" in zh and "上文" in zh
    assert "Question: Why?" in answer_messages(c, "Why?", "en")[0]["content"]
    assert "问题：为什么？" in answer_messages(c, "为什么？", "zh")[0]["content"]


# ---- end to end against the stub server -----------------------------------------------------

QUESTIONS = {
    "Camellia": ["What plant are tea leaves made from?", "Summarize the passage above.",
                 "Who first brewed tea in ancient times?"],
    "Green tea is not": ["Why do green tea leaves stay green?", "Where is green tea most popular today?"],
    "Black tea": ["How does black tea differ from green tea in processing?"],
    "绿茶": ["绿茶是怎样制成的？", "根据上文，红茶有哪些代表？", "祁门红茶属于哪一类茶？"],
}
ANSWERS = {
    "What plant are tea leaves made from?": "Tea is made from the leaves of Camellia sinensis.",
    "Who first brewed tea in ancient times?": "The text does not say who first brewed tea.",
    "Why do green tea leaves stay green?": "The leaves are heated soon after picking, which keeps them green.",
    "Where is green tea most popular today?": "Matcha enjoys enormous popularity across Japanese ceremonies.",
    "How does black tea differ from green tea in processing?":
        "Black tea is fully oxidised before drying, while green tea is not oxidised.",
    "绿茶是怎样制成的？": "绿茶采摘后经过杀青、揉捻和干燥制成。",
    "祁门红茶属于哪一类茶？": "祁门红茶是著名的红茶，红茶是全发酵茶。",
}


def chunk_of(prompt: str) -> str:
    return prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]


def responder(body):
    prompt = body["messages"][0]["content"]
    chunk = chunk_of(prompt)
    question = re.search(r"(?:Question: |问题：)(.+)$", prompt)
    if question and "\n>>>" in prompt.split(question.group(0))[0]:
        return ANSWERS.get(question.group(1).strip(), "NOT ANSWERABLE")
    qs = [q for key, qs in QUESTIONS.items() if key in chunk for q in qs]
    return "\n".join(f"{i}. {q}" for i, q in enumerate(qs, 1))[2:]  # continues the "1." prefill


def run(*args):
    return CliRunner().invoke(main, ["run", "self-qa", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def tea_docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "tea.md").write_text(TEA, encoding="utf-8")
    return d


def test_self_qa_publishes_grounded_pairs_with_provenance(stub, tea_docs, tmp_path):
    stub.responder = responder
    res = run("--docs", tea_docs, "--base-url", stub.url, "--dataset", "tea", "--store", tmp_path / "store",
              "--num", 10, "--no-embed", "--lang", "en", "--chunk-chars", 200, "--overlap", 0)
    assert res.exit_code == 0, res.output
    assert "self-qa: kept 3 of 6 candidates" in res.output
    ver = DatasetStore(tmp_path / "store").resolve("tea")
    records = ver.records() if hasattr(ver, "records") else DatasetStore(tmp_path / "store").read("tea")
    by_q = {r.instruction: r for r in records}
    assert set(by_q) == {"What plant are tea leaves made from?", "Why do green tea leaves stay green?",
                         "How does black tea differ from green tea in processing?"}
    for r in records:
        start, end = r.meta["chunk"]
        assert r.meta["doc"] == "tea.md" and r.meta["source"] == "self-qa"
        chunk = TEA[start:end]  # provenance points at the exact source characters
        assert r.output in chunk or r.meta["grounding"] >= 0.5
        assert r.meta["grounding"] >= 0.5
    rejects = [json.loads(line) for line in (ver.path / "rejects.jsonl").read_text().splitlines()]
    reasons = {r["record"]["instruction"]: (r["stage"], r["reason"]) for r in rejects}
    assert reasons == {
        "Summarize the passage above.": ("question", "question_refers_to_text"),
        "Who first brewed tea in ancient times?": ("answer", "answer_refusal"),
        "Where is green tea most popular today?": ("answer", "answer_not_grounded"),
    }
    manifest = json.loads((ver.path / "manifest.json").read_text())
    assert manifest["generator"] == "self-qa"
    assert {"en/self_qa_questions", "en/self_qa_answer"} <= set(manifest["prompt_templates"])
    assert any(p.endswith("tea.md") for p in manifest["inputs"])
    assert manifest["run"]["counts"]["chunks"] == 3
    # 3 question requests + 5 answers (the self-referential question is never answered)
    assert len(stub.requests) == 8
    assert all(req.get("seed") is not None for req in stub.requests)


def test_rerun_hits_the_response_cache(stub, tea_docs, tmp_path):
    stub.responder = responder
    args = ("--docs", tea_docs, "--base-url", stub.url, "--num", 10, "--no-embed", "--lang", "en")
    first = run(*args, "--out", tmp_path / "a.jsonl")
    calls = len(stub.requests)
    second = run(*args, "--out", tmp_path / "b.jsonl")
    assert first.exit_code == second.exit_code == 0
    assert len(stub.requests) == calls  # identical requests, deterministic seeds: all cached
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_self_qa_chinese(stub, tmp_path):
    stub.responder = responder
    (tmp_path / "茶.txt").write_text(TEA_ZH, encoding="utf-8")
    out = tmp_path / "zh.jsonl"
    res = run("--docs", tmp_path / "茶.txt", "--base-url", stub.url, "--out", out, "--no-embed")
    assert res.exit_code == 0, res.output
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["instruction"] for r in kept} == {"绿茶是怎样制成的？", "祁门红茶属于哪一类茶？"}
    assert all(r["meta"]["lang"] == "zh" for r in kept)
    assert "背景知识" in stub.user_prompts()[0]  # the Chinese prompt, detected from the document
    rejects = out.with_name("zh.rejects.jsonl").read_text(encoding="utf-8")
    assert "question_refers_to_text" in rejects


def test_real_corpus_run(stub, corpora, tmp_path):
    """Every chunk of the real documents yields questions; answers quote the chunk."""

    def echo(body):
        prompt = body["messages"][0]["content"]
        sentences = [s for s in re.split(r"(?<=[。.!?！？])\s*", chunk_of(prompt)) if len(s) > 20]
        if "Question: " in prompt.rsplit(">>>", 1)[1]:
            return sentences[0] if sentences else "NOT ANSWERABLE"
        return "\n".join(f"{i}. Question {i} about: {s[:60]}" for i, s in enumerate(sentences[:3], 1))[2:]

    stub.responder = echo
    out = tmp_path / "real.jsonl"
    res = run("--docs", corpora / "docs", "--base-url", stub.url, "--out", out, "--num", 5, "--no-embed",
              "--lang", "en", "--rouge", 1.0)
    assert res.exit_code == 0, res.output
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(kept) == 5
    for r in kept:
        text = (corpora / "docs" / r["meta"]["doc"]).read_text(encoding="utf-8")
        start, end = r["meta"]["chunk"]
        assert r["output"] in text[start:end]


def cli_error(*args):
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", "run", "self-qa",
                           *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stderr.strip().splitlines()


def test_bad_documents_one_line_exit_2(stub, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = cli_error("--docs", empty, "--base-url", stub.url, "--out", tmp_path / "o.jsonl")
    assert code == 2 and len(err) == 1 and "no .txt" in err[0] and str(empty) in err[0]
    bad = tmp_path / "bad.md"
    bad.write_bytes("ok line\nstill ok\n\xff broken\n".encode("latin-1"))
    code, err = cli_error("--docs", bad, "--base-url", stub.url, "--out", tmp_path / "o.jsonl")
    assert code == 2 and err == [f"error: {bad}:3: not valid UTF-8 (byte 17)"]
    short = tmp_path / "short.txt"
    short.write_text("Too short.", encoding="utf-8")
    code, err = cli_error("--docs", short, "--base-url", stub.url, "--dataset", "x", "--store", tmp_path / "s")
    assert code == 2 and "no chunk of at least 80 characters" in err[0]
    assert stub.requests == [] and not (tmp_path / "o.jsonl").exists() and not (tmp_path / "s" / "x").exists()
