"""Extractive Self-QA: sentence spans, question ranking and offsets as pure functions; the
generator with a fake scoring client; forced extractive and the stage notes against the stub."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import from_dict
from datagen.errors import ConfigError
from datagen.filters import FilterConfig, build_chain
from datagen.generators.self_qa import SelfQAConfig, SelfQAGenerator
from datagen.generators.self_qa import extractive as ex
from datagen.generators.self_qa.generator import stage_note
from datagen.io.documents import Chunk, chunk_documents, read_documents
from datagen.llm.base import ChatClient, Choice, Completion, Usage
from datagen.run.runner import format_summary, run_generator

SOURDOUGH = Path(__file__).parent / "data" / "sourdough.md"


def texts(text):
    spans = ex.sentence_spans(text)
    assert all(text[s.start:s.end] == s.text for s in spans)  # offsets map back exactly
    return [s.text for s in spans]


# ---- sentence splitting ------------------------------------------------------------------------

def test_english_sentences_and_abbreviations():
    text = ("Dr. Smith keeps 3.5 kg of flour, e.g. rye or wheat. Does it rise? Yes! "
            "J. K. Rowling never baked in the U.S. in 1990. He said \"feed it daily.\" Then it bubbled.")
    assert texts(text) == ["Dr. Smith keeps 3.5 kg of flour, e.g. rye or wheat.", "Does it rise?", "Yes!",
                           "J. K. Rowling never baked in the U.S. in 1990.", "He said \"feed it daily.\"",
                           "Then it bubbled."]


def test_lines_headings_and_list_markers():
    text = "# Feeding\n\n- Feed it twice a day. Keep it warm\n2. Stir well\n| a | b |\n\nLast line."
    assert texts(text) == ["Feed it twice a day.", "Keep it warm", "Stir well", "Last line."]


def test_chinese_sentences():
    text = "酸面种是面粉和水的混合物。它需要每天喂养！冷藏后怎样恢复？他说：“先喂两次。”然后就能用了"
    assert texts(text) == ["酸面种是面粉和水的混合物。", "它需要每天喂养！", "冷藏后怎样恢复？",
                           "他说：“先喂两次。”", "然后就能用了"]
    assert texts("第一句。 Second sentence here. 第三句！") == ["第一句。", "Second sentence here.", "第三句！"]


def test_answer_candidates_skip_short_and_self_referential():
    chunk = Chunk("d.md", 10, 99, "Feed it. The text above explains feeding in detail. Rye flour feeds the microbes well.")
    from datagen.generators.self_qa.parsing import refers_to_source

    assert [s.text for s in ex.answer_candidates(chunk, refers_to_source)] == ["Rye flour feeds the microbes well."]
    assert ex.is_answer_sized("酸面种是面粉和水的混合物。") and not ex.is_answer_sized("喂养两次。")


def test_document_span_matches_chunk_coordinates():
    docs = read_documents(SOURDOUGH)
    text = docs[0].text
    for chunk in chunk_documents(docs, 1000, 150):
        for span in ex.answer_candidates(chunk):
            a, b = ex.document_span(chunk, span)
            assert chunk.start <= a < b <= chunk.end and text[a:b] == span.text


# ---- questions -------------------------------------------------------------------------------

def test_sentence_question_prompt_is_few_shot_in_both_languages():
    en = ex.sentence_question_messages("Hooch is alcohol.", "en")
    assert [m["role"] for m in en] == ["user", "assistant"] * 3 + ["user"]
    assert en[1]["content"] == "How tall is the Eiffel Tower?" and en[-1]["content"].endswith("Hooch is alcohol.")
    zh = ex.sentence_question_messages("酸面种需要喂养。", "zh")
    assert zh[1]["content"] == "埃菲尔铁塔有多高？" and "酸面种需要喂养。" in zh[-1]["content"]


def test_on_topic_and_ranking():
    s = "A starter has to be fed regularly with fresh flour and water."
    assert ex.on_topic("How often is a starter fed?", s)
    assert not ex.on_topic("What happens when you feed your friend something daily?", s)
    assert ex.on_topic("酸面种需要怎样喂养？", "酸面种需要定期喂养面粉和水。")
    assert not ex.on_topic("蛋糕怎么做？", "酸面种需要定期喂养面粉和水。")
    assert ex.is_question("How often is a starter fed?") and ex.is_question("酸面种怎样喂养？")
    assert not ex.is_question("白茶是一种大量相对公园的动机") and not ex.is_question("Tell me about starters")
    likelihood = {"What does the text say about starters?": 0.0, "Why eat cake?": -1.0, "A starter fed": 1.0,
                  "What is a starter fed with?": -5.0, "How often is a starter fed?": -3.0}
    assert ex.rank_questions(list(likelihood), s, likelihood.get) == [
        "How often is a starter fed?", "What is a starter fed with?",  # usable ones, likeliest first
        "What does the text say about starters?", "Why eat cake?", "A starter fed"]


def test_spread_and_stage_note():
    spans = [ex.Span(i, i + 1, str(i)) for i in range(6)]
    assert [s.text for s in ex.spread(spans, 3)] == ["0", "2", "4"] and ex.spread(spans[:2], 5) == spans[:2]
    drops = Counter(answer_not_grounded=10, answer_refers_to_text=5)
    assert stage_note("answer", 15, drops, "try X") == "answer stage dropped all 15 (top: answer_not_grounded 10): try X"
    assert stage_note("answer", 16, drops, "try X") is None and stage_note("answer", 0, Counter(), "") is None


def test_answer_mode_config():
    assert from_dict(SelfQAConfig, {"docs": "d", "answer_mode": "extractive"}, "self-qa").answer_mode == "extractive"
    assert SelfQAConfig(docs="d").answer_mode == "auto"
    with pytest.raises(ConfigError, match="answer_mode"):
        SelfQAConfig(docs="d", answer_mode="guess")


# ---- the generator with a fake scoring client ----------------------------------------------------

class FakeLocal(ChatClient):
    """Scores like the local backend: questions are scripted per sentence (n samples each);
    `choose` scores an option by how many of its words the question repeats."""

    backend = "local"
    model = "fake"
    supports_likelihood = prefers_extractive = True

    def __init__(self, questions):
        self.questions, self.usage, self.requests, self.chosen = questions, Usage(), [], []

    def chat_many(self, requests, desc=None):
        out = []
        for r in requests:
            self.requests.append(r)
            sentence = r.messages[-1][1].split(": ", 1)[1]
            qs = self.questions.get(sentence[:20], ["What is it?"])
            out.append([Completion(q) for q in (qs * r.n)[:r.n]])
        return out

    def choose(self, messages, options, prefill=""):
        q = messages[-1]["content"].lower()
        self.chosen.append(q)
        scores = {o: float(sum(w in q for w in o.lower().split())) for o in options}
        return Choice(max(scores, key=scores.get), scores)

    def close(self):
        pass


def test_extractive_generator_records_spans_and_mode():
    gen = SelfQAGenerator(SelfQAConfig(docs=str(SOURDOUGH), lang="en", questions_per_chunk=2))
    client = FakeLocal({
        "A sourdough starter ": ["Why eat cake?", "What is a starter?", "What is a sourdough starter made of?"],
        "A healthy starter sm": ["What does a healthy starter smell like?"],
        "A starter has to be ": ["Do volcanoes erupt?"],
        "After a feeding, an ": ["How fast does an active starter double after a feeding?"],
        "A starter can be sto": ["Where can a starter be stored?"],
        "A starter can also b": ["A dried starter keeps"],
    })
    result = run_generator(gen, client, build_chain(FilterConfig(embed=None), "en"), 10)
    text = SOURDOUGH.read_text(encoding="utf-8")
    by_q = {r.instruction: r for r in result.kept}
    assert set(by_q) == {"What is a sourdough starter made of?", "What does a healthy starter smell like?",
                         "How fast does an active starter double after a feeding?", "Where can a starter be stored?"}
    for r in result.kept:
        a, b = r.meta["answer_span"]
        c0, c1 = r.meta["chunk"]
        assert text[a:b] == r.output and c0 <= a < b <= c1 and r.meta["answer_mode"] == "extractive"
        assert r.meta["grounding"] == 1.0
    assert by_q["Where can a starter be stored?"].output == (
        "A starter can be stored in the refrigerator when the baker does not bake every day.")
    reasons = {x["record"]["instruction"]: x["reason"] for x in result.rejects}
    assert reasons == {"A dried starter keeps": "not_a_question", "Do volcanoes erupt?": "question_off_topic"}
    assert all(r.n == 4 and r.temperature > 0 for r in client.requests)  # sampled, then ranked
    # ...the on-topic ones by the likelihood of the sentence after them
    assert client.chosen == ["what is a starter?", "what is a sourdough starter made of?"]
    assert {"en/self_qa_sentence_question", "en/self_qa_sentence_examples"} <= set(gen.report.prompt_templates)


# ---- against the stub server ---------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, ["run", "self-qa", *map(str, args)], catch_exceptions=False)


def test_forced_extractive_on_an_api_backend(stub, tmp_path):
    def responder(body):
        sentence = body["messages"][-1]["content"].split(": ", 1)[1]
        return "What is a starter fed with?" if "fed regularly" in sentence else "Why do volcanoes erupt?"

    stub.responder = responder
    out = tmp_path / "qa.jsonl"
    res = run("--docs", SOURDOUGH, "--base-url", stub.url, "--out", out, "--no-embed", "--answer-mode", "extractive")
    assert res.exit_code == 0, res.output
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["instruction"] for r in kept] == ["What is a starter fed with?"]
    assert kept[0]["output"] == "A starter has to be fed regularly with fresh flour and water."
    assert all(len(req["messages"]) == 7 and req.get("n", 1) == 1 for req in stub.requests)  # greedy, few-shot
    assert "question_off_topic" in res.output


def test_abstractive_summary_notes_a_stage_that_dropped_everything(stub, tmp_path):
    stub.responder = lambda body: ("NOT ANSWERABLE" if "Question: " in body["messages"][0]["content"]
                                   else " What is a sourdough starter?\n2. How is a starter fed?")
    out = tmp_path / "qa.jsonl"
    res = run("--docs", SOURDOUGH, "--base-url", stub.url, "--out", out, "--no-embed", "--num", 2)
    assert res.exit_code == 0, res.output
    assert "note: answer stage dropped all 2 (top: answer_refusal 2): try --answer-mode extractive" in res.output
    rejects = [json.loads(x) for x in out.with_name("qa.rejects.jsonl").read_text().splitlines()]
    assert {r["record"]["meta"]["answer_mode"] for r in rejects if r["stage"] == "answer"} == {"abstractive"}
