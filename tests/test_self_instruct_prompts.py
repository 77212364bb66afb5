"""Self-Instruct prompt building and reply parsing, on plain strings (no model)."""

import re

import pytest

from datagen.generators.self_instruct import prompts as P
from datagen.prompts import load_prompt


# ---- numbered lists ----------------------------------------------------------------

def test_list_in_odd_shapes():
    reply = ("9. Write a haiku about rain.\n"
             "10) Name three rivers in Europe.\n"
             "(11) List the planets in order from the sun.\n"
             "１２．Translate the sentence into French.\n"
             "Task 13: Tell me a joke about cats.\n"
             "**14.** Suggest a name for a bakery.\n"
             "- 15. Explain what a mortgage is.\n"
             "16、Give two synonyms for happy.")
    items, cut = P.parse_numbered_list(reply)
    assert cut is None
    assert items == ["Write a haiku about rain.", "Name three rivers in Europe.",
                     "List the planets in order from the sun.", "Translate the sentence into French.",
                     "Tell me a joke about cats.", "Suggest a name for a bakery.",
                     "Explain what a mortgage is.", "Give two synonyms for happy."]


def test_missing_numbers_preamble_continuation_and_trailing_junk():
    reply = ("Sure! Here are some more tasks:\n\n"
             "9. Describe how a refrigerator keeps food cold,\n"
             "   using simple words.\n"
             "12. Suggest a weekend plan for a family with kids.\n"
             "\n"
             "I hope these tasks are useful for your project!")
    items, cut = P.parse_numbered_list(reply)
    assert items == ["Describe how a refrigerator keeps food cold, using simple words.",
                     "Suggest a weekend plan for a family with kids."]
    assert cut is None


def test_decimal_numbers_are_not_markers():
    items, _ = P.parse_numbered_list("9. Convert 1.5 liters to cups.\n3.14 is close to pi\n10. Next task here")
    assert items == ["Convert 1.5 liters to cups. 3.14 is close to pi", "Next task here"]


def test_truncated_reply_drops_last_item():
    reply = "9. Write a short story about a lost key.\n10. Explain why leaves change col"
    items, cut = P.parse_numbered_list(reply, truncated=True)
    assert items == ["Write a short story about a lost key."]
    assert cut == "Explain why leaves change col"
    # the same reply when it stopped normally keeps both
    assert len(P.parse_numbered_list(reply)[0]) == 2


def test_api_that_ignores_prefill():
    # the client prepends the prefill "9." to a reply that restarted at "1."
    items, _ = P.parse_numbered_list("9.1. Explain photosynthesis simply.\n2. Give an example of irony.")
    assert items == ["Explain photosynthesis simply.", "Give an example of irony."]


def test_chinese_list():
    reply = "9. 写一首关于秋天的小诗。\n10、判断这句话的情感是正面还是负面。\n（11）任务：把下面的句子翻译成英文。\n１２．解释"
    items, cut = P.parse_numbered_list(reply, truncated=True)
    assert items == ["写一首关于秋天的小诗。", "判断这句话的情感是正面还是负面。", "任务：把下面的句子翻译成英文。"]
    assert cut == "解释"


def test_empty_and_unnumbered_replies():
    assert P.parse_numbered_list("") == ([], None)
    assert P.parse_numbered_list("I cannot help with that.") == ([], None)
    assert P.parse_numbered_list("9.", truncated=True) == ([], None)


def test_clean_item_strips_markdown_and_quotes():
    assert P.clean_item('  "**write** a   poem."  ') == "Write a poem."
    assert P.clean_item("“写一首诗。”") == "写一首诗。"


# ---- prompts --------------------------------------------------------------------------

def test_bootstrap_prompt_numbers_examples_and_prefills_next():
    examples = [f"Task number {i} here:" for i in range(8)]
    messages, prefill = P.bootstrap_prompt(examples, "en")
    assert prefill == "9."
    text = messages[-1]["content"]
    assert text.startswith(load_prompt("self_instruct_bootstrap", "en").text.split("{examples}")[0])
    assert re.findall(r"^(\d+)\. ", text, re.M) == [str(i) for i in range(1, 9)]
    assert "Task number 7 here\n" not in text and text.endswith("8. Task number 7 here")  # trailing ':' dropped


def test_bootstrap_prompt_chinese():
    messages, prefill = P.bootstrap_prompt(["写一首诗。", "解释什么是复利。"], "zh")
    assert prefill == "3."
    assert "请接着" in messages[0]["content"] and "2. 解释什么是复利。" in messages[0]["content"]


def test_clf_prompt_uses_labelled_seeds_or_defaults():
    with_seeds = P.clf_prompt("Is the number prime?", [("Tell me if x is y.", True), ("Write a poem.", False)])
    text = with_seeds[0]["content"]
    assert "Task: Tell me if x is y.\nClassification: Yes" in text
    assert "Task: Write a poem.\nClassification: No" in text
    assert text.endswith("Task: Is the number prime?\nClassification:")
    default = P.clf_prompt("Is the number prime?")[0]["content"]
    assert load_prompt("self_instruct_clf_examples", "en").text.strip() in default
    zh = P.clf_prompt("判断这个数是不是质数。", lang="zh")[0]["content"]
    assert zh.endswith("任务：判断这个数是不是质数。\n分类任务：")


def test_output_prompt_with_and_without_input():
    assert P.output_prompt("Write a haiku.")[0]["content"] == "Write a haiku."
    assert P.output_prompt("Sort the numbers.", "3, 1, 2")[0]["content"] == "Sort the numbers.\n\nInput:\n3, 1, 2"
    assert "输入：\n3, 1, 2" in P.output_prompt("排序。", "3, 1, 2", "zh")[0]["content"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_template_renders_fully(lang):
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    rendered = [
        P.bootstrap_prompt(["a b c d"], lang)[0], P.clf_prompt("x", [("y", True)], lang), P.clf_prompt("x", (), lang),
        P.input_prompt("x", lang), P.output_prompt("x", "", lang), P.output_prompt("x", "y", lang),
        P.labels_prompt("x", 3, lang), P.clf_input_prompt("x", "yes", lang), P.followup_prompt(conv, lang),
    ]
    for messages in rendered:
        assert not re.search(r"\{[a-z_]+\}", messages[-1]["content"])
    assert set(P.template_shas(lang)) == {f"{lang}/{n}" for n in P.TEMPLATES}


def test_followup_prompt_shows_conversation():
    conv = [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}]
    assert "User: Name a fruit.\n\nAssistant: Apple." in P.followup_prompt(conv, "en")[0]["content"]
    assert "用户：Name a fruit.\n\n助手：Apple." in P.followup_prompt(conv, "zh")[0]["content"]


# ---- instance replies ---------------------------------------------------------------------

@pytest.mark.parametrize("reply", ["None", "none.", " N/A ", "Input: None", "无", "没有", "(none)"])
def test_parse_input_no_input_needed(reply):
    assert P.parse_input(reply) == ""


def test_parse_input_strips_labels_and_next_example():
    assert P.parse_input("Input: The cat sat on the mat.\nOutput: Le chat...") == "The cat sat on the mat."
    assert P.parse_input("42, 7, 19\n\nTask: Another task") == "42, 7, 19"
    assert P.parse_input("输入：今天天气很好。\n输出：……") == "今天天气很好。"
    assert P.parse_input("Line one\nline two") == "Line one\nline two"


def test_parse_output_and_followup():
    assert P.parse_output("Output: Paris.") == "Paris."
    assert P.parse_followup("User: Can you make it shorter?\nAssistant: Sure.") == "Can you make it shorter?"
    assert P.parse_followup("用户：能再简单一点吗？") == "能再简单一点吗？"


def test_parse_labels_shapes():
    assert P.parse_labels("positive\nnegative\n- neutral\n\nTask: next one", 5) == ["positive", "negative", "neutral"]
    assert P.parse_labels("Labels:\n1. Yes\n2. No\n3. yes", 5) == ["Yes", "No"]
    assert P.parse_labels("Positive, negative or neutral.", 5) == ["Positive", "negative", "neutral"]
    assert P.parse_labels("正面、负面还是中性", 5) == ["正面", "负面", "中性"]
    assert P.parse_labels("a\nb\nc\nd", 2) == ["a", "b"]
    assert P.parse_labels("spam\nnot spam\nsom", 5, truncated=True) == ["spam", "not spam"]
    long = "The answer depends on many different things that the model cannot know here"
    assert P.parse_labels(long, 5) == []
