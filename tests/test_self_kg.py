"""Self-KG: triple readers, grouping, templates and verification as pure functions, then
whole runs through the CLI against the stub server (and template mode with no calls)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import DataError
from datagen.generators.self_kg.generator import qa_messages, verify
from datagen.io.triples import Triple, read_triples
from datagen.generators.self_kg.kg import (FactGroup, group_by_head, join_items, missing_tails, parse_qa,
                        parse_templates, relation_words, template_qa)
from datagen.prompts import load_prompt
from datagen.store import DatasetStore

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


# ---- reading ------------------------------------------------------------------------------

def test_seed_graphs_are_big_enough():
    for name in ("kg_en.jsonl", "kg_zh.jsonl"):
        assert len(read_triples(SEEDS / name)) >= 50
    entities = read_triples(SEEDS / "kg_zh_entities.jsonl")
    assert Triple("偏头痛", "相关症状", "畏光") in [Triple(t.head, t.relation, t.tail) for t in entities]


def test_read_jsonl_csv_tsv_and_entity_records(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        '{"head": "Mars", "relation": "moons", "tail": ["Phobos", "Deimos"]}\n'
        '{"subject": "Mars", "predicate": "type", "object": "terrestrial planet"}\n'
        '{"head": "Mars", "relation": "moons", "tail": "Phobos"}\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text("Head,Relation,Tail,source\nIron,atomic number,26,wiki\n\n", encoding="utf-8")
    (tmp_path / "c.tsv").write_text("head\trelation\ttail\n水\t化学式\tH2O\n", encoding="utf-8")
    (tmp_path / "d.json").write_text('[{"中心词": "痛风", "相关症状": ["关节疼痛", ""], "所属科室": "风湿免疫科"}]',
                                     encoding="utf-8")
    triples = read_triples(tmp_path)
    assert [(t.head, t.relation, t.tail) for t in triples] == [
        ("Mars", "moons", "Phobos"), ("Mars", "moons", "Deimos"), ("Mars", "type", "terrestrial planet"),
        ("Iron", "atomic number", "26"), ("水", "化学式", "H2O"),
        ("痛风", "相关症状", "关节疼痛"), ("痛风", "所属科室", "风湿免疫科"),
    ]  # the repeated (Mars, moons, Phobos) is read once
    assert triples[3].source.endswith("b.csv:2")


@pytest.mark.parametrize("content, suffix, line, problem", [
    ('{"head": "a", "relation": "r", "tail": "t"}\n{"head": "a", "relation": "r"}\n', ".jsonl", 2,
     "missing field 'tail'"),
    ('{"head": "a", "relation": "r", "tail": "  "}\n', ".jsonl", 1, "empty 'tail'"),
    ('{"head": {"x": 1}, "relation": "r", "tail": "t"}\n', ".jsonl", 1, "field 'head' must be a string, got dict"),
    ('{"name_zh": "x"}\n', ".jsonl", 1, "expected {head, relation, tail} or an entity record with '中心词'"),
    ('{"head": "a", "relation": "r", "tail": "t"\n', ".jsonl", 1, None),
    ("head,relation\na,r\n", ".csv", 1, "missing column 'tail' (header: head, relation)"),
    ("head,relation,tail\na,r\n", ".csv", 2, "missing field 'tail'"),
])
def test_malformed_triples_name_the_line(tmp_path, content, suffix, line, problem):
    path = tmp_path / f"kg{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_triples(path)
    assert e.value.line == line and e.value.path == str(path)
    if problem:
        assert e.value.problem == problem


def test_empty_and_unreadable_inputs(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no triples found"):
        read_triples(tmp_path / "empty.jsonl")
    (tmp_path / "kg.txt").write_text("a r t", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported triples file"):
        read_triples(tmp_path / "kg.txt")
    (tmp_path / "gbk.csv").write_bytes("head,relation,tail\n水,化学式,H2O\n".encode("gbk"))
    with pytest.raises(DataError, match="not valid UTF-8") as e:
        read_triples(tmp_path / "gbk.csv")
    assert e.value.line == 2


# ---- grouping, templates, parsing, verification -----------------------------------------------

def test_group_by_head_keeps_lists_whole():
    triples = [Triple(h, r, f"{h}-{r}-{i}") for h in "AB" for r in "wxyz" for i in range(3)]
    groups = group_by_head(triples, max_facts=2, seed=7)
    for g in groups:
        rels = [t.relation for t in g.triples]
        assert all(t.head == g.head for t in g.triples)
        assert 1 <= len(set(rels)) <= 2 and all(rels.count(r) == 3 for r in rels)  # lists whole
    assert [t for g in groups for t in g.triples] == triples  # every fact once, in order
    assert group_by_head(triples, 2, seed=7) == groups  # seeded
    assert len({len(g.triples) for g in groups}) == 2  # both sizes drawn
    by_rel = group_by_head(triples, by_relation=True, max_tails=2)
    assert [(g.head, g.triples[0].relation, len(g.tails)) for g in by_rel][:4] == [
        ("A", "w", 2), ("A", "w", 1), ("A", "x", 2), ("A", "x", 1)]


def test_templates_en_zh():
    assert join_items(["a", "b", "c"], "en") == "a, b and c" and join_items(["甲", "乙", "丙"], "zh") == "甲、乙和丙"
    assert relation_words("place_of_birth") == "place of birth" == relation_words("placeOfBirth")
    en = parse_templates(load_prompt("self_kg_templates", "en").text)
    group = FactGroup("Mars", [Triple("Mars", "moons", "Phobos"), Triple("Mars", "moons", "Deimos")])
    assert template_qa(group, en, "en") == ("What are the moons of Mars?", "The moons of Mars are Phobos and Deimos.")
    other = FactGroup("Rust", [Triple("Rust", "mascot", "Ferris")])
    assert template_qa(other, en, "en") == ("What is the mascot of Rust?", "The mascot of Rust is Ferris.")
    zh = parse_templates(load_prompt("self_kg_templates", "zh").text)
    g = FactGroup("偏头痛", [Triple("偏头痛", "相关症状", "头痛"), Triple("偏头痛", "相关症状", "恶心")])
    assert template_qa(g, zh, "zh") == ("偏头痛有哪些症状？", "偏头痛的常见症状包括头痛和恶心。")
    with pytest.raises(DataError, match="fallback"):
        parse_templates("capital | Q {head} | A {tails}")
    with pytest.raises(DataError) as e:
        parse_templates("* | q\n")
    assert e.value.line == 1


def test_parse_qa():
    assert parse_qa("Question: What are the moons of Mars?\nAnswer: Phobos and Deimos.") == (
        "What are the moons of Mars?", "Phobos and Deimos.")
    assert parse_qa("问题：偏头痛有哪些症状？\n回答：头痛、恶心。\n问题：另一个？\n回答：不要") == (
        "偏头痛有哪些症状？", "头痛、恶心。")
    assert parse_qa("**Question:** Why?\n**Answer:** Because.") == ("Why?", "Because.")
    assert parse_qa("Mars has two moons.") is None
    assert parse_qa("Question: only a question") is None


def test_missing_tails_and_verify():
    assert missing_tails("Mars has two moons, phobos and DEIMOS.", ["Phobos", "Deimos"]) == []
    assert missing_tails("Mars has a moon called Phobos.", ["Phobos", "Deimos"]) == ["Deimos"]
    assert missing_tails("Iron has atomic number 26.", ["26"]) == []
    assert missing_tails("头痛、恶心和畏光", ["头痛", "畏光"]) == []
    # a small change in a long tail passes the fuzzy match, unless exact matching is asked for
    answer = "Newton formulated the law of universal gravitation."
    assert missing_tails(answer, ["universal gravitation"]) == []
    assert missing_tails("Known for laws of motions.", ["laws of motion"], fuzzy=90) == []
    assert missing_tails("Known for gravity.", ["universal gravitation"], fuzzy=90) == ["universal gravitation"]
    group = FactGroup("Mars", [Triple("Mars", "moons", "Phobos"), Triple("Mars", "moons", "Deimos")])
    assert verify("What moons?", "Phobos only.", group) == ("answer_missing_fact", {"missing": ["Deimos"]})
    assert verify("What moons?", "According to the knowledge graph, Phobos and Deimos.", group)[0] == \
        "refers_to_source"
    assert verify("Which moons orbit Mars?", "Phobos and Deimos.", group) == (None, {})


def test_llm_prompt_lists_every_fact():
    group = FactGroup("Mars", [Triple("Mars", "moons", "Phobos"), Triple("Mars", "order_from_sun", "fourth")])
    text = qa_messages(group, "en")[0]["content"]
    assert "- Mars | moons | Phobos\n- Mars | order from sun | fourth" in text
    assert '"Phobos" and "fourth"' in text
    assert "“头痛”" in qa_messages(FactGroup("偏头痛", [Triple("偏头痛", "相关症状", "头痛")]), "zh")[0]["content"]


# ---- end to end -------------------------------------------------------------------------------

def kg_responder(body):
    """Answers with every listed value, except for Japan, where it forgets the last one."""
    prompt = body["messages"][0]["content"]
    facts = re.findall(r"^- (.+?) \| (.+?) \| (.+)$", prompt, re.M)
    head = facts[0][0]
    tails = [t for _, _, t in facts]
    if head == "Japan":
        tails = tails[:-1] or ["nothing"]
    if "问题：" in prompt:
        about = "和".join(dict.fromkeys(r for _, r, _ in facts))
        return f"{head}的{about}是什么？\n回答：{head}的特点包括" + "、".join(tails) + "。"
    about = " and ".join(dict.fromkeys(r for _, r, _ in facts))
    return f" Which facts describe the {about} of {head}?\nAnswer: {head} is linked to " + ", ".join(tails) + "."


def run(*args):
    return CliRunner().invoke(main, ["run", "self-kg", *map(str, args)], catch_exceptions=False)


def run_all_facts(stub, tmp_path):
    """Self-KG in llm mode over every fact of kg_en.jsonl, published as `kg`: its version."""
    res = run("--triples", SEEDS / "kg_en.jsonl", "--base-url", stub.url, "--dataset", "kg", "--store",
              tmp_path, "--num", 200, "--no-embed", "--rouge", 1.0)
    assert res.exit_code == 0, res.output
    return DatasetStore(tmp_path).resolve("kg")


def test_llm_mode_verifies_every_tail(stub, tmp_path):
    stub.responder = kg_responder
    ver = run_all_facts(stub, tmp_path)
    records = ver.records()
    assert records and all(r.meta["source"] == "self-kg" and r.meta["mode"] == "llm" for r in records)
    for r in records:
        assert all(t["tail"].lower() in r.output.lower() for t in r.meta["triples"])
        assert r.instruction.startswith("Which facts describe")
    rejects = ver.rejects()
    japan = [r for r in rejects if r["record"]["meta"]["entity"] == "Japan"]
    assert japan and all(r["reason"] == "answer_missing_fact" and r["stage"] == "verify" for r in japan)
    assert all(r["detail"]["missing"] for r in japan)
    assert {r["reason"] for r in rejects} == {"answer_missing_fact"}  # lists are never split
    # every fact used exactly once
    used = [len(r.meta["triples"]) for r in records] + [len(r["record"]["meta"]["triples"]) for r in rejects]
    assert sum(used) == 67
    manifest = json.loads((ver.path / "manifest.json").read_text())
    assert manifest["generator"] == "self-kg" and "en/self_kg_qa" in manifest["prompt_templates"]
    assert all(req["messages"][-1] == {"role": "assistant", "content": "Question:"} for req in stub.requests)


def test_llm_mode_chinese_entity_records(stub, tmp_path):
    stub.responder = kg_responder
    out = tmp_path / "zh.jsonl"
    res = run("--triples", SEEDS / "kg_zh_entities.jsonl", "--base-url", stub.url, "--out", out, "--no-embed",
              "--max-facts", 2)
    assert res.exit_code == 0, res.output
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert kept and all(r["meta"]["lang"] == "zh" and 1 <= len({t["relation"] for t in r["meta"]["triples"]}) <= 2
                    for r in kept)
    assert "以下是知识图谱中的事实" in stub.user_prompts()[0]


def test_unparsable_reply_is_a_reject(stub, tmp_path):
    stub.responder = lambda body: "I like planets."
    out = tmp_path / "o.jsonl"
    res = run("--triples", SEEDS / "kg_en.jsonl", "--base-url", stub.url, "--out", out, "--num", 3, "--no-embed")
    assert res.exit_code == 0
    assert "unparsable_reply" in res.output and out.read_text() == ""


def test_template_mode_makes_no_calls(stub, tmp_path):
    res = run("--triples", SEEDS / "kg_zh.jsonl", "--mode", "template", "--base-url", stub.url,
              "--dataset", "kgt", "--store", tmp_path)
    assert res.exit_code == 0, res.output
    assert stub.requests == []
    records = DatasetStore(tmp_path).read("kgt")
    assert len(records) == 20  # the default --num
    by_q = {r.instruction: r.output for r in records}
    assert all(r.meta["mode"] == "template" for r in records)
    assert all(q.endswith("？") and a.endswith("。") for q, a in by_q.items())


def cli_error(*args):
    proc = subprocess.run([sys.executable, "-c", "from datagen.cli import main; main()", "run", "self-kg",
                           *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stderr.strip().splitlines()


def test_bad_triples_one_line_exit_2(stub, tmp_path):
    bad = tmp_path / "kg.jsonl"
    bad.write_text('{"head": "a", "relation": "r", "tail": "t"}\n{"head": "b", "relation": "r"}\n')
    code, err = cli_error("--triples", bad, "--base-url", stub.url, "--dataset", "x", "--store", tmp_path / "s")
    assert (code, err) == (2, [f"error: {bad}:2: missing field 'tail'"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, err = cli_error("--triples", empty, "--mode", "template", "--out", tmp_path / "o.jsonl")
    assert (code, err) == (2, [f"error: {empty}: no triples found (empty file?)"])
    assert stub.requests == [] and not (tmp_path / "s" / "x").exists() and not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("answer, tail, missing", [
    ("Oxygen", "O", True),                                  # a symbol is not in the element's name
    ("The chemical symbol for oxygen is O.", "O", False),
    ("He was born in 1998.", "8", True),                    # a digit is not in a year
    ("It has 8 legs.", "8", False),
    ("氧的化学符号是O。", "O", False),                        # CJK characters are their own tokens
    ("北京是中国的首都。", "北京", False),
    ("南京是江苏的省会。", "北京", True),
    ("京剧起源于北方。", "北京", True),                       # 京 and 北 apart are not 北京
    ("Mars has two moons.", "moon", False),                  # a plural of the last word
])
def test_fact_check_matches_whole_tokens(answer, tail, missing):
    assert missing_tails(answer, [tail]) == ([tail] if missing else [])


def test_a_reasoning_models_trace_is_kept_apart_and_a_cut_off_one_dropped(stub, tmp_path):
    from stub_server import Reply, reasoning_body

    def respond(body):
        head = re.findall(r"^- (.+?) \| ", body["messages"][0]["content"], re.M)[0]
        if head == "Japan":  # cut off while thinking
            return Reply(body=reasoning_body("<think>Japan has", field="", finish_reason="length"))
        if head == "France":  # a trace, then a reply that does not parse: unparsable, not answer_missing
            return Reply(body=reasoning_body("I like France.", "France has several facts."))
        return Reply(body=reasoning_body(kg_responder(body), f"The facts about {head} are listed."))

    stub.responder = respond
    ver = run_all_facts(stub, tmp_path)
    records = ver.records()
    assert records and all(r.meta["reasoning"] == f"The facts about {r.meta['entity']} are listed."
                           for r in records)
    assert all("facts about" not in r.output for r in records)
    japan = [r for r in ver.rejects() if r["record"]["meta"]["entity"] == "Japan"]
    assert japan and {r["reason"] for r in japan} == {"reasoning_truncated"}
    france = [r for r in ver.rejects() if r["record"]["meta"]["entity"] == "France"]
    assert france and {r["reason"] for r in france} == {"unparsable_reply"}
