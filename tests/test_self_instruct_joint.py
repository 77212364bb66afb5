"""--instance-mode joint: a generation task's instances in one reply (the Self-Instruct
paper's way). Parsing without an LLM; the loop against the stub server."""

from datagen.generators.self_instruct import prompts as P
from stub_server import StubLLMServer
from test_self_instruct import NEW_TASKS, Script, kinds_for, run


def test_parse_examples_en_zh_none_and_truncation():
    text = ("Example 1\nInput: 3, 1, 2\nOutput: 1, 2, 3\n\nExample 2\nInput: None\nOutput: Nothing to sort.\n"
            "Example 3\nInput: 9, 8\nOutput: 8,")
    assert P.parse_examples(text) == [("3, 1, 2", "1, 2, 3"), ("", "Nothing to sort."), ("9, 8", "8,")]
    # a reply cut by max_tokens loses its last example, which may be cut short
    assert P.parse_examples(text, truncated=True) == [("3, 1, 2", "1, 2, 3"), ("", "Nothing to sort.")]
    zh = "示例 1\n输入：你好\n输出：Hello\n示例 2\n输入：无\n输出：无需输入的回答。\n\n任务：下一个任务"
    assert P.parse_examples(zh) == [("你好", "Hello"), ("", "无需输入的回答。")]
    # no output, no example; a model that starts the next task has finished
    assert P.parse_examples("Example 1\nInput: x\n") == []
    assert P.parse_examples("Example 1\nInput: x\nOutput: y\nTask: Write a poem.\nExample 1\nInput: z\nOutput: w") \
        == [("x", "y")]
    messages, prefill = P.instances_prompt("Sort the list.", 3, "en")
    assert "up to 3 examples" in messages[0]["content"] and messages[0]["content"].rstrip().endswith("Sort the list.")
    assert prefill == "Example 1\nInput:" and P.instances_prompt("排序。", 2, "zh")[1] == "示例 1\n输入："


def test_joint_mode_asks_once_per_generation_task():
    script = Script()
    with StubLLMServer(script) as stub:
        gen, result = run(stub, num=2, batch=1, instance_mode="joint")
    limerick = kinds_for(script, "limerick")
    assert limerick == ["clf", "instances"]  # one request for all its instances, no input/answer stages
    recs = [r for r in result.kept if r.instruction == NEW_TASKS[1]]
    assert [(r.input, r.output) for r in recs] == [("", "There once was a coder named Lee."),
                                                  ("a cat", "A cat sat on a mat, quite fat.")]
    assert all(r.meta["instance_order"] == "joint" for r in recs)
    assert "en/self_instruct_instances" in recs[0].meta["prompt_templates"]
    dup = [r for r in result.rejects if r["reason"] == "duplicate_input"]
    assert [d["record"]["output"] for d in dup] == ["Again."]
    # classification still goes output-first: labels, then an input per label
    assert kinds_for(script, "prime") == ["clf", "labels", "clf_input", "clf_input"]
