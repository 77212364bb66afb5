"""The reasoning rules (filters/reasoning.py) and what every other filter sees: a
Self-Instruct run against the stub server whose answers come from a reasoning model."""

from datagen.filters import FilterConfig, build_chain, build_instance_chain
from datagen.generators.self_instruct import SelfInstructConfig, SelfInstructGenerator
from datagen.llm import LLMConfig, make_client
from datagen.records import Record
from datagen.run.runner import format_summary, run_generator
from stub_server import Reply, StubLLMServer, reasoning_body
from test_self_instruct import SEEDS_EN, Script

TASKS = {
    "limerick": "Write a limerick about a sleepy programmer.",
    "haiku": "Compose a haiku about autumn leaves falling in the quiet park.",
    "plants": "Give three tips for keeping houseplants alive during a cold winter.",
    "detective": "Summarize a classic detective story in two sentences."
}
REFUSAL_IN_THOUGHT = "I'm sorry, but as an AI language model I cannot... no wait, I can write this."


def answer(body, user):
    if "limerick" in user:  # trace in reasoning_content, a refusal-like thought inside it
        return Reply(body=reasoning_body("There once was a coder named Lee, who napped with a mug of warm tea.",
                                         REFUSAL_IN_THOUGHT, reasoning_tokens=7))
    if "haiku" in user:  # trace inside the content
        return Reply(body=reasoning_body("<think>Five, seven, five.</think>\n\nRed leaves drift and fall / "
                                         "the quiet park breathes slowly / autumn settles in", field=""))
    if "houseplants" in user:  # cut off while thinking
        return Reply(body=reasoning_body("<think>First, light. Second, water. Third", field="",
                                         finish_reason="length"))
    return Reply(body=reasoning_body("", "The detective finds the butler... then what?"))  # no answer


def run(reasoning="keep"):
    script = Script(answer=answer, clf=lambda b, u: "No", input=lambda b, u: "None",
                    bootstrap=" " + "\n".join(f"{i}. {t}" for i, t in enumerate(TASKS.values(), 10)))
    with StubLLMServer(script) as stub:
        gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(SEEDS_EN)], batch=1, max_rounds=1))
        client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0))
        try:
            return run_generator(gen, client, build_chain(FilterConfig(embed=None), "en"), 10, reasoning=reasoning)
        finally:
            client.close()


def test_traces_are_kept_apart_and_bad_ones_dropped_with_their_reason():
    result = run()
    kept = {r.instruction: r for r in result.kept}
    lim, haiku = kept[TASKS["limerick"]], kept[TASKS["haiku"]]
    # a refusal inside the thinking is not a refusal: the refusal rule saw the answer alone
    assert lim.output.startswith("There once was a coder") and lim.meta["reasoning"] == REFUSAL_IN_THOUGHT
    assert haiku.output.startswith("Red leaves drift") and "<think>" not in haiku.output
    assert haiku.meta["reasoning"] == "Five, seven, five."
    reasons = {r["record"]["instruction"]: r["reason"] for r in result.rejects if r["stage"] == "instance"}
    assert reasons[TASKS["plants"]] == "reasoning_truncated"
    assert reasons[TASKS["detective"]] == "answer_missing"
    assert result.ledger["total"]["reasoning_tokens"] >= 7
    assert result.reasoning == {"kept_with_trace": 2, "traces": "meta.reasoning"}
    assert "reasoning: 2 kept records came with a trace (kept in meta.reasoning)" in format_summary(result)


def test_reasoning_drop_keeps_the_rules_but_not_the_traces():
    result = run("drop")
    assert result.kept and all("reasoning" not in r.meta for r in result.kept)
    assert result.reasoning["traces"] == "dropped"
    assert {r["reason"] for r in result.rejects} >= {"reasoning_truncated", "answer_missing"}


def test_rules_are_inert_without_a_trace_and_run_first():
    plain = Record(instruction="Name a colour of the sky.", output="")
    thought = Record(instruction="Name a colour of the sky.", output="", meta={"reasoning": "blue?"})
    cut = Record(instruction="Name a colour of the sky.", output="", meta={"reasoning": "bl",
                                                                          "reasoning_truncated": True})
    chain = build_instance_chain()
    assert [v.reason for v in chain.check_many([plain, thought, cut], keep=False)] == [
        "empty_output", "answer_missing", "reasoning_truncated"]


def test_joint_instances_drop_a_reply_cut_off_while_thinking_and_store_no_shared_trace():
    def instances(body, user):
        if "houseplants" in user:  # cut off while thinking: no example is its answer
            return Reply(body=reasoning_body("<think>Example one could be", field="", finish_reason="length"))
        return Reply(body=reasoning_body(" None\nOutput: A full answer.\nExample 2\nInput: two\nOutput: Another.",
                                         "Three examples, each different."))

    script = Script(instances=instances, clf=lambda b, u: "No",
                    bootstrap=" " + "\n".join(f"{i}. {t}" for i, t in enumerate(TASKS.values(), 10)))
    with StubLLMServer(script) as stub:
        gen = SelfInstructGenerator(SelfInstructConfig(seeds=[str(SEEDS_EN)], batch=1, max_rounds=1,
                                                       instance_mode="joint"))
        client = make_client(LLMConfig(backend="openai", base_url=[stub.url], model="stub", max_retries=0))
        try:
            result = run_generator(gen, client, build_chain(FilterConfig(embed=None), "en"), 10)
        finally:
            client.close()
    assert result.kept and all("reasoning" not in r.meta for r in result.kept)  # one trace, several records
    assert TASKS["plants"] not in {r.instruction for r in result.kept}
    cut = [r for r in result.rejects if r["record"]["instruction"] == TASKS["plants"]]
    assert [r["reason"] for r in cut] == ["reasoning_truncated"]
