"""Evol-Instruct: prompts, parsing and each elimination rule on strings (en and zh), then
whole runs through `datagen run evol-instruct` against the stub server, published to the
store and read back with the lineage intact."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.generators.evol_instruct.evolve import (METHODS, answer_reason, copies_template, equal_prompt,
                                                     evolve_prompt, is_refusal, only_punctuation, parse_evolved)
from datagen.store import DatasetStore
from run_lines import run_output

ROOT = Path(__file__).resolve().parent.parent
SEEDS_EN = ROOT / "seeds" / "self_instruct_en.jsonl"
SEEDS_ZH = ROOT / "seeds" / "self_instruct_zh.jsonl"


# ---- prompts and parsing ----------------------------------------------------------------------

@pytest.mark.parametrize("lang, given, rewritten", [("en", "#Given Prompt#:", "#Rewritten Prompt#:"),
                                                    ("zh", "#给定提示#：", "#改写后的提示#：")])
def test_every_method_has_a_prompt_in_both_languages(lang, given, rewritten):
    texts = {m: evolve_prompt("Name three rivers in Africa.", m, lang)[0]["content"] for m in METHODS}
    for method, text in texts.items():
        assert text.count("Name three rivers in Africa.") == 1
        assert given in text
        if method != "breadth":
            assert text.rstrip().endswith(rewritten)
    assert len(set(texts.values())) == len(METHODS)  # each method asks for something different
    assert texts["breadth"].rstrip().endswith("#Created Prompt#:" if lang == "en" else "#新提示#：")
    eq = equal_prompt("Name a river.", "Name a long river in Africa.", lang)[0]["content"]
    assert "Name a river." in eq and "Name a long river in Africa." in eq
    assert ('"Equal" or "Different"' if lang == "en" else "“相同”或“不同”") in eq
    with pytest.raises(ValueError, match="unknown evolution method"):
        evolve_prompt("x", "shorten", lang)


@pytest.mark.parametrize("reply, evolved", [
    ("#Rewritten Prompt#: Name three rivers in Africa longer than 1,000 km.",
     "Name three rivers in Africa longer than 1,000 km."),
    ("**Rewritten Prompt:** Explain photosynthesis to a ten-year-old.", "Explain photosynthesis to a ten-year-old."),
    ("#Created Prompt#:\nDescribe the mating call of the kakapo.", "Describe the mating call of the kakapo."),
    ('"Summarise the article in two sentences."', "Summarise the article in two sentences."),
    ("#改写后的提示#：列出三条非洲长度超过一千公里的河流。", "列出三条非洲长度超过一千公里的河流。"),
    ("#新提示#：介绍一种少见的茶叶加工方法。", "介绍一种少见的茶叶加工方法。"),
    ("Plain rewritten text with no marker.", "Plain rewritten text with no marker."),
    ("   ", ""),
])
def test_parse_evolved(reply, evolved):
    assert parse_evolved(reply) == evolved


# ---- elimination rules ------------------------------------------------------------------------------

def test_copies_template():
    assert copies_template("Here is the #Rewritten Prompt#: list rivers")
    assert copies_template("Rewrite the given prompt so it asks for three rivers.")
    assert copies_template("The rewritten prompt asks for rivers.")
    assert copies_template("#Given Prompt# Name three rivers.")
    assert copies_template("请根据改写后的提示回答。")
    assert copies_template("#给定提示# 列出三条河流。")
    assert not copies_template("Name three rivers in Africa and give their lengths.")
    assert not copies_template("Given a prompt from a user, classify its intent.")  # "a prompt", not the template's
    assert not copies_template("列出三条非洲的河流，并给出长度。")


def test_refusal_is_a_short_apology():
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert is_refusal("As an AI, I cannot browse the internet.")
    assert is_refusal("抱歉，我无法回答这个问题。")
    long = "Sorry for the long answer. " + "The Nile flows north through eleven countries. " * 12
    assert not is_refusal(long)  # "sorry" in a long, real answer is kept
    assert not is_refusal("The Nile, the Congo and the Niger.")
    assert answer_reason("Sorry, I cannot do that.") == "answer_refusal"
    assert answer_reason("对不起，我不能提供这些信息。", "zh") == "answer_refusal"


def test_only_punctuation_and_stop_words():
    assert only_punctuation("...!!?")
    assert only_punctuation("")
    assert only_punctuation("The, and of it.")
    assert only_punctuation("。。。！")
    assert only_punctuation("的了。是")
    assert not only_punctuation("Nile.")
    assert not only_punctuation("尼罗河。")
    assert answer_reason("  ?! ") == "answer_only_punctuation"
    assert answer_reason("The Nile is the longest river in Africa.") is None


# ---- whole runs against the stub ---------------------------------------------------------------------

WORDS = ("amber basalt cobalt dune ember fjord garnet heron iris jade kelp lichen marble nectar opal prairie "
         "quartz reef sorrel tidal umber vapor willow xenon yarrow zephyr").split()


def evol_responder(script: dict | None = None, answers: dict | None = None):
    """Evolves by appending a distinct clause; answers, judges Different. `script` maps a
    substring of an evolution prompt's given instruction to a canned evolution, `answers`
    a substring of an instruction to a canned answer, to trigger each elimination rule."""
    script, answers = script or {}, answers or {}

    def respond(body):
        msg = body["messages"][-1]["content"]
        if "Equal" in msg and "judgement" in msg:
            return "Equal" if "SAME" in msg.split("The second instruction:")[1] else "Different"
        if "你的判断" in msg:
            return "不同"
        m = re.search(r"#Given Prompt#:\n(.*?)\n\n#", msg, re.S) or re.search(r"#给定提示#：\n(.*?)\n\n#", msg, re.S)
        if m:
            given = m.group(1)
            for key, reply in script.items():
                if key in given:
                    return reply
            n = zlib.crc32(msg.encode()) % 10007  # a function of the request: runs repeat exactly
            w = [WORDS[(n * k) % len(WORDS)] for k in (1, 3, 7)]
            if "给定提示" in msg:
                return f"#改写后的提示#：{given}，并结合{n}号案例说明。"
            return f"#Rewritten Prompt#: {given} Consider {w[0]}, {w[1]} and {w[2]} case {n}."
        for key, reply in answers.items():
            if key in msg:
                return reply
        return f"A thorough answer covering {msg[:60]}"

    return respond


def run_evol(stub, tmp_path, *extra):
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--base-url", stub.url, "--no-embed",
                                    "--dataset", "evol", "--store", str(store), *extra])
    return res, store


def test_evolves_in_batched_rounds_and_the_lineage_round_trips(stub, tmp_path):
    stub.default = evol_responder()
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"instruction": t, "input": i, "output": "x"}) for t, i in [
        ("Name three rivers in Africa.", ""), ("Write a haiku about autumn leaves.", ""),
        ("Summarise the text in one sentence.", "Bees make honey from nectar they collect from flowers."),
    ]) + "\n", encoding="utf-8")
    res, store = run_evol(stub, tmp_path, "--seeds", str(seeds), "--num", "9", "--rounds", "3", "--lineages", "3")
    assert res.exit_code == 0, res.output
    assert "evol@v0001" in res.output
    records = DatasetStore(store).read("evol@v1")
    assert len(records) == 9
    by_id = {r.id: r for r in records}
    seed_ids = set()
    for r in records:
        m = r.meta
        assert m["generator"] == "evol-instruct" and m["method"] in METHODS
        assert len(m["lineage"]) == m["depth"] and m["lineage"][-1]["id"] == m["parent_id"]
        assert m["seed_id"] == m["lineage"][0]["id"] and m["lineage"][0]["method"] is None
        if m["depth"] > 1:  # the parent is a kept step, and the lineage extends the parent's
            parent = by_id[m["parent_id"]]
            assert m["lineage"][:-1] == parent.meta["lineage"]
            assert m["lineage"][-1] == {"id": parent.id, "instruction": parent.instruction,
                                        "method": parent.meta["method"]}
            assert parent.instruction in r.instruction  # the stub evolves by appending
        seed_ids.add(m["seed_id"])
        assert r.output.startswith("A thorough answer")
    assert sorted(r.meta["depth"] for r in records) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert len(seed_ids) == 3
    first = next(r for r in records if r.meta["depth"] == 1 and "Bees make honey" in r.instruction)
    assert first.meta["lineage"][0]["instruction"].endswith("\n\nBees make honey from nectar they collect from flowers.")
    # all lineages advance together: each round is 3 evolutions, 3 equality checks, 3 answers
    kinds = ["evolve" if "#Given Prompt#" in p else "equal" if "judgement" in p else "answer"
             for p in stub.user_prompts()]
    assert kinds == (["evolve"] * 3 + ["equal"] * 3 + ["answer"] * 3) * 3


def test_each_elimination_rule_drops_a_step_with_its_reason(stub, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Name three rivers in Africa.\nWrite a haiku about autumn.\nList two prime numbers.\n"
                     "Describe a sunny day.\nExplain what a noun is.\n", encoding="utf-8")
    stub.default = evol_responder({
        "rivers": "#Rewritten Prompt#: Rewrite the given prompt with more rivers.",   # copies_template
        "haiku": "Write a haiku about autumn SAME wording, please.",                 # judged Equal
        "prime": "List two prime numbers above one hundred and explain why.",        # answered with a refusal
        "sunny": "Describe a sunny day at a crowded harbour in late spring.",        # answered with punctuation
    }, answers={"above one hundred": "I'm sorry, but I cannot help with that.", "crowded harbour": " ... !!"})
    res, store = run_evol(stub, tmp_path, "--seeds", str(seeds), "--num", "5", "--rounds", "1",
                          "--lineages", "5")
    assert res.exit_code == 0, res.output
    rejects = DatasetStore(store).resolve("evol").rejects()
    reasons = {r["reason"]: r for r in rejects}
    assert set(reasons) == {"copies_template", "no_information_gain", "answer_refusal", "answer_only_punctuation"}
    assert reasons["copies_template"]["stage"] == "evolve"
    assert reasons["no_information_gain"]["stage"] == "equal"
    assert reasons["answer_refusal"]["stage"] == reasons["answer_only_punctuation"]["stage"] == "answer"
    assert reasons["answer_refusal"]["record"]["meta"]["parent_id"]  # drops carry the lineage too
    kept = DatasetStore(store).read("evol")
    assert [r.meta["lineage"][0]["instruction"] for r in kept] == ["Explain what a noun is."]


def test_a_failed_step_retries_from_the_parent_or_ends_the_lineage(stub, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Name three rivers in Africa.\nWrite a haiku about autumn.\n", encoding="utf-8")
    stub.default = evol_responder({"rivers": "Name the given prompt rivers."})  # always copies_template
    res, store = run_evol(stub, tmp_path, "--seeds", str(seeds), "--num", "10", "--rounds", "3")
    assert res.exit_code == 0, res.output
    rejects = DatasetStore(store).resolve("evol").rejects()
    assert [r["reason"] for r in rejects] == ["copies_template"] * 3  # retried from the seed each round
    methods = [r["record"]["meta"]["method"] for r in rejects]
    assert all(r["record"]["meta"]["depth"] == 1 for r in rejects)
    assert len(DatasetStore(store).read("evol")) == 3  # the other lineage went 3 deep
    stub.requests.clear()
    res, store = run_evol(stub, tmp_path / "end", "--seeds", str(seeds), "--num", "10", "--rounds", "3",
                          "--on-fail", "end", "--no-cache")
    assert res.exit_code == 0, res.output
    assert [r["reason"] for r in DatasetStore(store).resolve("evol").rejects()] == ["copies_template"]
    assert sum("rivers" in p and "#Given Prompt#" in p for p in stub.user_prompts()) == 1
    assert methods == [r["record"]["meta"]["method"] for r in rejects]  # seeded: same draw


def test_methods_are_drawn_per_step_and_seeded(stub, tmp_path):
    stub.default = evol_responder()
    runs = []
    for i, seed in enumerate((0, 0, 1)):
        res, store = run_evol(stub, tmp_path / str(i), "--seeds", str(SEEDS_EN), "--num", "16", "--rounds", "2",
                              "--seed", str(seed), "--no-rouge", "--no-cache")
        assert res.exit_code == 0, res.output
        runs.append([(r.meta["seed_id"], r.meta["depth"], r.meta["method"]) for r in DatasetStore(store).read("evol")])
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len({m for _, _, m in runs[0]}) >= 4  # several methods drawn, not one


def test_evolves_a_published_version_in_chinese(stub, tmp_path):
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["run", "self-kg", "--triples", str(ROOT / "seeds" / "kg_zh.jsonl"),
                                    "--mode", "template", "--num", "4", "--dataset", "kgzh", "--store", str(store)])
    assert res.exit_code == 0, res.output
    stub.default = evol_responder()
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--from-dataset", "kgzh@v1", "--from-store", str(store),
                                    "--base-url", stub.url, "--num", "4", "--rounds", "2", "--dataset", "evolzh",
                                    "--store", str(store)])
    assert res.exit_code == 0, res.output
    kept = DatasetStore(store).read("evolzh")
    assert len(kept) == 4 and all(r.meta["lang"] == "zh" for r in kept)
    parents = {r.instruction for r in DatasetStore(store).read("kgzh")}
    assert all(r.meta["lineage"][0]["instruction"] in parents for r in kept)
    evolve_prompts = [p for p in stub.user_prompts() if "#给定提示#" in p]
    assert evolve_prompts and all("#改写后的提示#" in p or "#新提示#" in p for p in evolve_prompts)
    assert sum("你的判断" in p for p in stub.user_prompts()) >= 4  # the zh equality check


def test_cli_command_from_the_config(tmp_path):
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--help"])
    assert res.exit_code == 0
    for flag in ("--seeds", "--from-dataset", "--rounds", "--methods", "--on-fail", "--no-equal-check"):
        assert flag in res.output
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--num", "2", "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "--seeds FILE or --from-dataset" in res.output
    res = CliRunner().invoke(main, ["run", "evol-instruct", "--from-dataset", "nope", "--from-store",
                                    str(tmp_path), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no dataset 'nope'" in res.output
    assert not (tmp_path / "o.jsonl").exists()


def test_the_example_pipeline_parses(tmp_path):
    res = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "evol-instruct.yaml"), "--dry-run"])
    assert res.exit_code == 0, res.output
    gen = json.JSONDecoder().raw_decode(res.output)[0]["generator"]  # then the cost estimate
    assert gen["type"] == "evol-instruct" and gen["rounds"] == 4 and gen["on_fail"] == "retry"


def test_report_plots_depth_and_method(stub, tmp_path):
    pytest.importorskip("matplotlib")
    stub.default = evol_responder()
    res, store = run_evol(stub, tmp_path, "--seeds", str(SEEDS_EN), "--num", "6", "--rounds", "2", "--lineages", "3")
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["report", "evol", "--store", str(store), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "evolution.png").is_file()
    assert "Evolution: depth and method" in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")


def test_a_step_is_never_a_near_copy_of_its_own_lineage(stub, tmp_path):
    """Long seeds: each evolution keeps most of its parent's words (ROUGE-L about 0.8 with it);
    at Self-Instruct's --rouge 0.7 dedup compares it with everything but its own lineage,
    so the steps are kept."""
    stub.default = evol_responder()
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"instruction": t, "output": "x"}) for t in [
        "Write a detailed plan for a community garden in a small town with a limited budget and volunteers.",
        "Summarise the history of the printing press and its effect on literacy across early modern Europe.",
    ]) + "\n", encoding="utf-8")
    res, store = run_evol(stub, tmp_path, "--seeds", str(seeds), "--num", "4", "--rounds", "2", "--lineages", "2",
                          "--rouge", "0.7")
    assert res.exit_code == 0, res.output
    ver = DatasetStore(store).resolve("evol")
    assert len(ver.records()) == 4 and max(r.meta["depth"] for r in ver.records()) == 2
    assert not [r for r in ver.rejects() if r["reason"] == "rouge_dup"]


def test_steps_made_past_num_are_surplus_lines_with_their_tokens(stub, tmp_path):
    # 3 lineages x 3 rounds make 9 records; --num 7 keeps 7: the last round's other 2 were
    # paid for (evolution, equality check, answer) and are surplus lines, never dropped silently
    stub.default = evol_responder()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Name three rivers in Africa.\nWrite a haiku about autumn.\nList two prime numbers.\n",
                     encoding="utf-8")
    res, store = run_evol(stub, tmp_path, "--seeds", str(seeds), "--num", "7", "--rounds", "3", "--lineages", "3",
                          "--model", "gpt-4o-mini")
    assert res.exit_code == 0, res.output
    version = DatasetStore(store).latest("evol")
    rejects = [json.loads(x) for x in version.rejects_path.read_text().splitlines()]
    surplus = [r for r in rejects if r["reason"] == "surplus"]
    assert len(surplus) == 2 and all(r["record"]["output"] for r in surplus)
    assert all(r["record"]["meta"]["usage"]["completion_tokens"] > 0 for r in surplus)
    ledger = version.manifest["usage"]["ledger"]
    assert ledger["surplus"]["records"] == 2 and ledger["surplus"]["dollars"] > 0
    assert "_tokens" not in json.dumps([r.meta for r in DatasetStore(store).read("evol")])
    # every answer the server wrote is a kept record or a line
    held = {r.instruction for r in DatasetStore(store).read("evol")} | {r["record"]["instruction"] for r in rejects}
    answered = [p for p in stub.user_prompts() if "#Given Prompt#" not in p and "judgement" not in p]
    assert len(answered) == 9 and all(p in held for p in answered)


@pytest.mark.parametrize("share", [0.55, 0.8])
def test_a_cap_leaves_no_paid_evolution_unaccounted(stub, tmp_path, share):
    # every evolution the server wrote is in a kept record or a line, also in the round the
    # cap stopped between its evolutions (paid) and their equality checks or answers
    respond, written = evol_responder(), []

    def recording(body):
        text = respond(body)
        if "#Given Prompt#" in body["messages"][-1]["content"]:
            written.append(text.split("#Rewritten Prompt#:", 1)[1].strip())
        return text

    stub.default = recording
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("Name three rivers in Africa.\nWrite a haiku about autumn.\nList two prime numbers.\n",
                     encoding="utf-8")
    args = ("--seeds", str(seeds), "--num", "9", "--rounds", "3", "--lineages", "3", "--model", "gpt-4o-mini",
            "--max-tokens", "40", "--answer-max-tokens", "40")  # first estimates near the replies
    res, store = run_evol(stub, tmp_path / "full", *args, "--cache-path", str(tmp_path / "full.sqlite"))
    assert res.exit_code == 0, res.output
    tokens = DatasetStore(store).latest("evol").manifest["usage"]["ledger"]["total"]["tokens"]
    written.clear()
    res, store = run_evol(stub, tmp_path / "cap", *args, "--max-total-tokens", str(int(tokens * share)),
                          "--cache-path", str(tmp_path / "cap.sqlite"))
    assert res.exit_code == 0 and "stopped: budget" in res.output, res.output
    _, lines = run_output(DatasetStore(store), "evol")
    held = {(r.get("record") or r)["instruction"] for r in lines}
    assert written and [w for w in written if w not in held] == [], res.output
