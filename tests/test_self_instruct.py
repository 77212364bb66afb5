"""The Self-Instruct loop against the stub OpenAI-compatible server on 127.0.0.1.

The responder answers by which prompt it sees, so each test scripts one behaviour:
branching (classification goes output-first), instance rules, stopping, languages,
multi-turn, and the CLI end to end."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.filters import FilterConfig, build_chain
from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
from datagen.llm import LLMConfig, make_client
from datagen.run.runner import format_summary, run_generator
from stub_server import Reply, StubLLMServer, chat_body

ROOT = Path(__file__).resolve().parent.parent
SEEDS_EN = ROOT / "seeds" / "self_instruct_en.jsonl"
SEEDS_ZH = ROOT / "seeds" / "self_instruct_zh.jsonl"
SEEDS_CHAT = ROOT / "seeds" / "self_instruct_chat.jsonl"

NEW_TASKS = [
    "Tell me whether the given number is prime. Answer yes or no.",
    "Write a limerick about a sleepy programmer.",
    "Describe the image of a sunset over the sea.",  # blacklist
    "Explain to a ten-year-old why the sky is blue.",  # near-copy of a seed
]


def kind(user: str) -> str:
    if "Continue the numbered list" in user or "请接着" in user:
        return "bootstrap"
    if user.rstrip().endswith(("Classification:", "分类任务：")):
        return "clf"
    if "List the possible answers" in user or "所有可能的答案" in user:
        return "labels"
    if "whose correct answer is the given label" in user or "正确答案正好是给定的标签" in user:
        return "clf_input"
    if "Write one realistic input" in user or "写一个真实的输入" in user:
        return "input"
    if "Write the user's next message" in user or "用户的下一句话" in user:
        return "followup"
    if "examples of the task below" in user or "请为下面的任务写最多" in user:
        return "instances"
    return "answer"


def last_task(user: str) -> str:
    """The task a classification prompt asks about (after the few-shot examples)."""
    body = user.rstrip().removesuffix("Classification:").removesuffix("分类任务：")
    return body.rsplit("Task:", 1)[-1].rsplit("任务：", 1)[-1]


class Script:
    """A responder with overridable answers per prompt kind; records the kinds it saw."""

    def __init__(self, bootstrap=None, **overrides):
        self.bootstrap = bootstrap or " " + "\n".join(f"{i}. {t}" for i, t in enumerate(NEW_TASKS, 10))
        self.overrides = overrides
        self.seen: list[tuple[str, str]] = []

    def __call__(self, body):
        msgs = body["messages"]
        user = [m["content"] for m in msgs if m["role"] == "user"][-1]
        k = kind(user)
        self.seen.append((k, user))
        if k in self.overrides:
            return self.overrides[k](body, user)
        if k == "bootstrap":
            return self.bootstrap(body, user) if callable(self.bootstrap) else self.bootstrap
        if k == "clf":
            q = last_task(user)
            return "Yes" if ("prime" in q or "质数" in q) else "No"
        if k == "labels":
            return "yes\nno"
        if k == "clf_input":
            return "7" if user.rstrip().split("Label: ")[-1].startswith("yes") else "8"
        if k == "input":
            return "None"
        if k == "followup":
            return "Can you make it rhyme better?"
        if k == "instances":  # continues the "Example 1\nInput:" prefill
            return (" None\nOutput: There once was a coder named Lee.\nExample 2\nInput: a cat\n"
                    "Output: A cat sat on a mat, quite fat.\nExample 3\nInput: a cat\nOutput: Again.")
        if msgs[-1]["role"] == "user" and len([m for m in msgs if m["role"] == "user"]) > 1:
            return "Here is a version with better rhymes."
        return "There once was a coder named Lee, who napped with a mug of warm tea."


def run(stub, num=2, seeds=(SEEDS_EN,), lang="auto", **cfg):
    gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(s) for s in seeds], lang=lang, **cfg))
    client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0))
    chain = build_chain(FilterConfig(embed=None), gen.lang)
    try:
        return gen, run_generator(gen, client, chain, num)
    finally:
        client.close()


def kinds_for(script, task_fragment):
    return [k for k, u in script.seen if k != "bootstrap" and task_fragment in u]


def test_classification_goes_output_first_and_generation_input_first():
    script = Script()
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=2, batch=1)
    clf = [r for r in result.kept if r.meta["task_type"] == "classification"]
    gen_recs = [r for r in result.kept if r.meta["task_type"] == "generation"]
    assert {(r.input, r.output) for r in clf} == {("7", "yes"), ("8", "no")}
    assert all(r.meta["instance_order"] == "output-first" for r in clf)
    assert [r.instruction for r in gen_recs] == [NEW_TASKS[1]]
    assert gen_recs[0].input == "" and gen_recs[0].meta["instance_order"] == "input-first"
    # classification: labels, then one input per label, never the input-first prompt
    prime = kinds_for(script, "prime")
    assert prime == ["clf", "labels", "clf_input", "clf_input"]
    limerick = kinds_for(script, "limerick")
    assert limerick[:2] == ["clf", "input"] and "labels" not in limerick
    assert result.report.stop_reason.startswith("kept 2 tasks")


def test_record_meta_and_rejects():
    # the bad candidates first: a round checks candidates only until --num has its tasks
    order = [NEW_TASKS[i] for i in (2, 3, 0, 1)]
    with StubLLMServer(Script(bootstrap=" " + "\n".join(f"{i}. {t}" for i, t in enumerate(order, 10)))) as stub:
        gen, result = run(stub, num=2, batch=1)
    seed_ids = {json.loads(line)["id"] for line in SEEDS_EN.read_text().splitlines()}
    rec = next(r for r in result.kept if r.meta["task_type"] == "generation")
    m = rec.meta
    assert m["generator"] == "self-instruct" and m["model"] == "stub" and m["lang"] == "en"
    assert len(m["prompt_examples"]) == 8 and set(m["prompt_examples"]) <= seed_ids  # pool empty: all seeds
    assert m["most_similar"] and 0 <= m["rouge_l"] <= 0.7
    assert set(m["prompt_templates"]) == {"en/self_instruct_bootstrap", "en/self_instruct_clf",
                                          "en/self_instruct_input", "en/self_instruct_output"}
    assert m["usage"]["completion_tokens"] > 0
    reasons = {(r["reason"], r["record"]["instruction"]) for r in result.rejects}
    assert ("blacklist", NEW_TASKS[2]) in reasons
    assert ("rouge_dup", NEW_TASKS[3]) in reasons
    dup = next(r for r in result.rejects if r["reason"] == "rouge_dup")
    assert dup["detail"]["rouge_l"] > 0.7
    assert result.report.prompt_templates["en/self_instruct_bootstrap"]
    summary = format_summary(result)
    assert "classification share 67%" in summary and "blacklist" in summary


def test_machine_examples_join_later_prompts():
    with StubLLMServer(Script()) as stub:
        gen, result = run(stub, num=50, batch=1, max_rounds=2, patience=5, strict_rounds=True)
    second = [r for r in result.rejects if r["record"]["meta"].get("round") == 2]
    assert second, "round 2 produced candidates"
    assert sum(e.startswith("si-") for e in second[0]["record"]["meta"]["prompt_examples"]) == 2
    assert result.report.stop_reason.startswith("round limit 2 reached")


def test_unanswered_classification_is_dropped_not_defaulted():
    script = Script(clf=lambda body, user: "I am not sure." if "limerick" in last_task(user) else "Yes")
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=5, batch=1, max_rounds=1)
    drop = next(r for r in result.rejects if r["reason"] == "clf_unanswered")
    assert drop["record"]["instruction"] == NEW_TASKS[1] and drop["stage"] == "classify"
    assert NEW_TASKS[1] not in {r.instruction for r in result.kept}


def test_instance_rules():
    def clf_input(body, user):  # same input for both labels: identical inputs, different outputs
        return "17"

    def answer(body, user):
        return "A limerick." if "limerick" in user else "The story goes like this:"

    script = Script(clf_input=clf_input, answer=answer,
                    bootstrap=" Tell me whether the given number is prime. Answer yes or no.\n"
                              "10. Write a limerick about a sleepy programmer.\n"
                              "11. Summarize the story of your favourite novel.")
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=5, batch=1, max_rounds=1)
    reasons = {r["record"]["instruction"][:20]: r["reason"] for r in result.rejects if r["stage"] == "instance"}
    assert reasons["Tell me whether the "] == "conflicting_instances"
    assert reasons["Summarize the story "] == "ends_with_colon"
    assert result.kept == [] or all(r.output for r in result.kept)


def test_input_equals_output_and_empty_output():
    def inp(body, user):
        return "Some text to work on." if "limerick" in user else "None"

    def answer(body, user):
        return "Some text to work on." if "limerick" in user else "   "

    script = Script(input=inp, answer=answer, clf=lambda b, u: "No")
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=5, batch=1, max_rounds=1)
    reasons = {r["record"]["instruction"]: r["reason"] for r in result.rejects if r["stage"] == "instance"
               and r["reason"] != "duplicate_input"}
    assert reasons[NEW_TASKS[1]] == "input_equals_output"
    assert reasons[NEW_TASKS[0]] == "empty_output"


def test_truncated_bootstrap_reply_drops_last_item():
    def bootstrap(body, user):
        text = " Write a limerick about a sleepy programmer.\n10. Explain how tides wor"
        return Reply(body=chat_body(text, finish_reason="length"))

    with StubLLMServer(Script(bootstrap=bootstrap)) as stub:
        gen, result = run(stub, num=5, batch=1, max_rounds=1)
    cut = [r for r in result.rejects if r["reason"] == "truncated_item"]
    assert [r["record"]["instruction"] for r in cut] == ["Explain how tides wor"]
    assert [r.instruction for r in result.kept] == [NEW_TASKS[1]]


def test_no_progress_stops_with_reason():
    with StubLLMServer(Script(bootstrap=" Explain to a ten-year-old why the sky is blue.")) as stub:
        gen, result = run(stub, num=3, batch=2, patience=2)
    assert result.kept == []
    assert "no new task kept in 2 rounds" in result.report.stop_reason
    assert gen.report.counts["rounds"] == 2


def test_note_when_no_classification_task_survives():
    with StubLLMServer(Script(clf=lambda b, u: "No")) as stub:
        gen, result = run(stub, num=2, batch=1, max_rounds=1)
    assert result.kept and all(r.meta["task_type"] == "generation" for r in result.kept)
    assert any("no classification task" in n for n in result.report.notes)
    assert "note: no classification task" in format_summary(result)


def test_chinese_seeds_make_chinese_prompts_and_char_level_dedup():
    zh_tasks = ["判断这个数是不是质数，回答是或否。", "为一家社区书店想三条宣传口号吧。", "写一首关于春天的四句小诗，要押韵。"]
    script = Script(bootstrap=" " + "\n".join(f"{i}. {t}" for i, t in enumerate(zh_tasks, 10)),
                    labels=lambda b, u: "是\n否", clf_input=lambda b, u: "7" if u.rstrip().endswith("是\n输入：") else "8",
                    answer=lambda b, u: "春风吹绿柳，细雨润花红。")
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=2, seeds=(SEEDS_ZH,), batch=1, max_rounds=1)
    assert gen.lang == "zh"
    assert all(k == "answer" or any(ch >= "\u4e00" for ch in u) for k, u in script.seen)
    dropped = {r["record"]["instruction"]: r for r in result.rejects}
    # "为一家社区书店想三条宣传口号。" is a seed: the near-copy is caught only by character-level ROUGE
    assert dropped[zh_tasks[1]]["reason"] == "rouge_dup"
    assert {r.meta["task_type"] for r in result.kept} == {"classification", "generation"}
    assert {r.output for r in result.kept if r.meta["task_type"] == "classification"} == {"是", "否"}


def test_multi_turn_seeds_make_conversations():
    with StubLLMServer(Script(clf=lambda b, u: "No")) as stub:
        gen, result = run(stub, num=2, seeds=(SEEDS_CHAT,), batch=1, max_rounds=1)
    convs = [r for r in result.kept if r.messages]
    assert convs, "chat seeds with two user turns produce conversations"
    for r in convs:
        roles = [m["role"] for m in r.messages]
        assert roles == ["user", "assistant", "user", "assistant"]
        # the flat fields are the first exchange: the task and the answer to it
        assert r.messages[0]["content"] == r.instruction and r.messages[1]["content"] == r.output
        assert r.meta["turns"] == 2 and "en/self_instruct_followup" in r.meta["prompt_templates"]


def test_cli_end_to_end_and_cache_on_rerun(tmp_path):
    out = tmp_path / "si.jsonl"
    with StubLLMServer(Script()) as stub:
        args = ["run", "self-instruct", "--seeds", str(SEEDS_EN), "--num", "2", "--batch", "2",
                "--base-url", stub.url, "--model", "stub", "--no-embed", "--out", str(out)]
        first = CliRunner().invoke(main, args)
        assert first.exit_code == 0, first.output
        calls = len(stub.requests)
        sent_first = {json.dumps(b, sort_keys=True) for b in stub.requests}
        second = CliRunner().invoke(main, args)
        assert second.exit_code == 0, second.output
        # nothing is paid twice: every request the first run sent comes from the cache. (The
        # rounds in flight when --num was reached got as far as timing let them, so a rerun
        # may send a request the first one never reached: 2 of 13 in one CI run.)
        sent_second = [json.dumps(b, sort_keys=True) for b in stub.requests[calls:]]
        assert not sent_first & set(sent_second)
    assert "kept 3 tasks" not in first.output and "stopped: kept 2 tasks" in first.output
    # two tasks were enough: the other candidates were never checked, each a surplus reject
    assert "classification share" in first.output and "surplus" in first.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["meta"]["task_type"] for r in rows} == {"classification", "generation"}
    rejects = [json.loads(line) for line in (tmp_path / "si.rejects.jsonl").read_text().splitlines()]
    assert rejects and all({"reason", "stage", "record"} <= set(r) for r in rejects)


def test_cli_bad_seed_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"instruction": "Write a poem about tea.", "instances": []}\n{not json\n')
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(bad), "--out", str(tmp_path / "o.jsonl"),
                                    "--base-url", "http://127.0.0.1:9/v1"])
    assert res.exit_code == 2
    assert f"{bad}:2" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.jsonl").exists()


def test_config_rejects_unknown_and_bad_values():
    from datagen.config import from_dict
    from datagen.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key 'instance'"):
        from_dict(SelfInstructConfig, {"instance": 3})
    with pytest.raises(ConfigError, match="instances"):
        SelfInstructConfig(instances=0)
    with pytest.raises(ConfigError, match="seed tasks"):
        SelfInstructGenerator(SelfInstructConfig())


@pytest.mark.model
def test_local_embedded_model_small_run(tmp_path):
    pytest.importorskip("torch")
    from datagen.llm.embedded import smollm2_gguf
    from datagen.errors import ConfigError

    try:
        smollm2_gguf()
    except ConfigError as e:
        pytest.skip(str(e))
    out = tmp_path / "si.jsonl"
    res = CliRunner().invoke(main, ["run", "self-instruct", "--seeds", str(SEEDS_EN), "--num", "1", "--backend",
                                    "local", "--no-embed", "--out", str(out), "--batch", "1", "--instances", "1",
                                    "--max-rounds", "1"])
    assert res.exit_code == 0, res.output
    assert "stopped:" in res.output
    assert out.exists() and (tmp_path / "si.rejects.jsonl").exists()


@pytest.mark.parametrize("first, reason", [("ocean, pencil, thunder, apple, lantern", "input_equals_output"),
                                           ("Here is the answer:", "ends_with_colon")])
def test_a_bad_first_answer_drops_the_conversation(first, reason):
    """Every assistant turn is trained on, so a first answer that echoes the input or is cut
    off drops the conversation even when the last answer is fine (issue #18.2)."""
    def answer(body, user):
        turns = sum(m["role"] == "user" for m in body["messages"])
        return first if turns == 1 else "Here is a version with better rhymes."

    script = Script(clf=lambda b, u: "No", input=lambda b, u: "ocean, pencil, thunder, apple, lantern", answer=answer)
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=2, seeds=(SEEDS_CHAT,), batch=1, max_rounds=1)
    assert not [r for r in result.kept if r.messages]
    convs = [r for r in result.rejects if r["record"].get("messages")]
    assert convs and all(r["reason"] == reason for r in convs)
