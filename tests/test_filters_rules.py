"""Rule filters, FilterConfig and the chains built from it."""

import pytest

from datagen.config import from_dict
from datagen.errors import ConfigError
from datagen.filters import FilterConfig, build_chain, build_instance_chain, conflicting_instances, funnel
from datagen.filters.rules import PunctStart
from datagen.records import Record


def reasons(chain, texts):
    return [v.reason for v in chain.check_many([Record(t) for t in texts])]


def test_default_chain_drops_like_self_instruct():
    chain = build_chain(FilterConfig(embed=None), "en")
    got = reasons(chain, [
        "Give three tips for staying healthy.",        # kept
        "Give me three tips for staying healthy!",     # near duplicate of the first
        "Hello there",                                 # 2 words
        " ".join(["word"] * 151),                      # too long
        "Draw a diagram of the solar system.",         # blacklisted
        "Describe the images below in detail.",        # blacklisted plural
        "Write a program that sorts a list.",          # Self-Instruct's write-program rule
        "... and quote this sentence for me please.",  # starts with punctuation
        "写一首关于春天的诗，要求押韵。",                # Chinese in an English run
        "Explain photosynthesis to a ten year old.",   # kept
    ])
    assert got == [None, "rouge_dup", "too_short", "too_long", "blacklist", "blacklist",
                   "write_program", "punct_start", "wrong_lang", None]


def test_length_bounds_are_exclusive_like_self_instruct():
    chain = build_chain(FilterConfig(rouge=None, embed=None, min_len=3, max_len=5), "en")
    assert reasons(chain, ["one two three", "one two three four", "a b c d e", "a b c d e f"]) == \
        ["too_short", None, None, "too_long"]


def test_blacklist_matches_whole_words_only():
    chain = build_chain(FilterConfig(rouge=None, embed=None), "en")
    assert reasons(chain, ["Summarize the profile of this candidate.",   # 'file' inside a word
                           "Open the FILE and summarize it."]) == [None, "blacklist"]
    v = build_chain(FilterConfig(rouge=None, embed=None), "en").check(Record("Plot the sales by month now."))
    assert v.detail == {"blacklisted": "Plot"}


def test_chinese_rules():
    chain = build_chain(FilterConfig(embed=None), "zh")
    got = reasons(chain, [
        "请介绍一下高血压的常见症状和治疗方法。",
        "请介绍一下高血压的常见症状和治疗方法。",     # identical: ROUGE-L 1.0 on characters
        "你好",                                        # 2 characters
        "请根据这张图片描述发生了什么。",             # Chinese blacklist
        "，以及红楼梦的作者是谁？请简要介绍。",          # Chinese punctuation start
        "Explain the theory of relativity simply.",   # English in a Chinese run
        "用Python写一个快速排序函数并解释。",         # mixed, mostly Chinese: kept
    ])
    assert got == [None, "rouge_dup", "too_short", "blacklist", "punct_start", "wrong_lang", None]


def test_ascii_start_only_for_english_and_optional():
    text = "Érase una vez: continue this story please."
    assert reasons(build_chain(FilterConfig(rouge=None, embed=None), "en"), [text]) == [None]
    assert reasons(build_chain(FilterConfig(rouge=None, embed=None, ascii_start=True), "en"), [text]) == \
        ["non_ascii_start"]


def test_switches_turn_rules_off():
    cfg = FilterConfig(rouge=None, embed=None, blacklist=[], punct_start=False, write_program=False,
                       lang_consistency=False)
    chain = build_chain(cfg, "en")
    assert reasons(chain, ["Write a program to draw a map.", "\"Hi\" said the man to me.",
                           "写一首关于春天的诗。"]) == [None, None, None]


def test_config_from_yaml_dict_rejects_unknown_and_bad_values():
    cfg = from_dict(FilterConfig, {"rouge": 0.6, "embed": None, "blacklist": ["foo"]})
    assert cfg.rouge == 0.6 and cfg.embed is None and cfg.blacklist == ["foo"]
    with pytest.raises(ConfigError, match="unknown key 'rougee'"):
        from_dict(FilterConfig, {"rougee": 0.7})
    for bad in ({"rouge": 1.5}, {"embed": "high"}, {"min_len": -1}, {"min_len": 10, "max_len": 5},
                {"blacklist": "image"}):
        with pytest.raises(ConfigError):
            from_dict(FilterConfig, bad)
    with pytest.raises(ConfigError, match="language"):
        build_chain(FilterConfig(), "fr")


def test_pool_records_are_compared_but_not_counted():
    chain = build_chain(FilterConfig(embed=None), "en")
    chain.add_many([Record("Give three tips for staying healthy.")] * 3)
    v = chain.check(Record("Give three tips for staying healthy!"))
    assert not v.kept and v.detail["rouge_l"] == 1.0
    assert funnel([v]) == {"seen": 1, "kept": 0, "dropped": {"rouge_dup": 1}}


def test_instance_chain():
    chain = build_instance_chain(FilterConfig(), "en")
    recs = [
        Record("Add the numbers.", input="2, 3", output="5"),
        Record("Add the numbers.", input="2, 3", output="5"),          # exact repeat
        Record("Add the numbers.", input="1, 1", output=""),           # empty output
        Record("Echo it.", input="hello", output="hello"),             # input == output
        Record("List the steps.", input="", output="The steps are:"),  # cut off
        Record("Translate into Chinese.", input="hello", output="Here it is："),  # cut off, full-width colon
        Record("Add the numbers.", input="4, 4", output="8"),
    ]
    got = [chain.check(r).reason for r in recs]
    assert got == [None, "duplicate_instance", "empty_output", "input_equals_output",
                   "ends_with_colon", "ends_with_colon", None]


def test_conflicting_instances():
    same = [Record("Classify.", input="I love it", output="positive"),
            Record("Classify.", input="I love it", output="negative"),
            Record("Classify.", input="meh", output="neutral")]
    assert conflicting_instances(same) == ["conflicting_instances"] * 3
    ok = [Record("Classify.", input="I love it", output="positive"),
          Record("Classify.", input="I love it", output="positive"),
          Record("Classify.", input="", output="a"),
          Record("Classify.", input="", output="b")]  # empty inputs never conflict
    assert conflicting_instances(ok) == [None, "duplicate_instance", None, None]


def test_chinese_chain_skips_the_english_embedder_unless_a_model_is_named():
    names = lambda chain: [f.name for f in chain.filters]  # noqa: E731
    assert "embedding" in names(build_chain(FilterConfig(), "en"))
    assert "embedding" not in names(build_chain(FilterConfig(), "zh"))
    assert "embedding" in names(build_chain(FilterConfig(embed_model="/models/multilingual"), "zh"))
    assert "rouge" in names(build_chain(FilterConfig(), "zh"))


# -- every assistant turn faces the instance rules (issue #18.2) ---------------------------
WORDS = "ocean, pencil, thunder, apple, lantern"


def conversation_record(first_answer, last_answer="Sorted: apple, lantern, ocean, pencil, thunder."):
    """A multi-turn instance as the Self-Instruct generator builds it, with the flat output
    holding the last answer (as versions written before the first-exchange rule do)."""
    msgs = [{"role": "user", "content": f"Sort the words alphabetically.\n\n{WORDS}"},
            {"role": "assistant", "content": first_answer},
            {"role": "user", "content": "Now sort them in reverse."},
            {"role": "assistant", "content": last_answer}]
    return Record("Sort the words alphabetically.", input=WORDS, output=last_answer, messages=msgs)


@pytest.mark.parametrize("first, reason", [(WORDS, "input_equals_output"), ("Here is the answer:", "ends_with_colon"),
                                           ("  ", "empty_output")])
def test_instance_rules_check_every_assistant_turn(first, reason):
    v = build_instance_chain(FilterConfig(), "en").check(conversation_record(first))
    assert (v.kept, v.reason, v.detail) == (False, reason, {"turn": 1})


def test_instance_rules_name_a_later_turn_and_catch_an_echo_of_the_user_turn():
    chain = build_instance_chain(FilterConfig(), "en")
    v = chain.check(conversation_record("apple, lantern, ocean, pencil, thunder", "Now sort them in reverse."))
    assert (v.reason, v.detail) == ("input_equals_output", {"turn": 2})
    ok = chain.check(conversation_record("apple, lantern, ocean, pencil, thunder"))
    assert ok.kept and ok.detail == {}
    # single-turn records keep their old verdicts and carry no turn detail
    v = chain.check(Record("Echo it.", input="hello", output="hello"))
    assert (v.reason, v.detail) == ("input_equals_output", {})


def test_conversations_sharing_a_first_exchange_are_not_exact_duplicates():
    chain = build_instance_chain(FilterConfig(), "en")
    a = conversation_record("apple, lantern, ocean, pencil, thunder", "thunder, pencil, ocean, lantern, apple")
    b = conversation_record("apple, lantern, ocean, pencil, thunder", "Reversed: thunder, pencil, ocean, lantern, apple")
    a.output = b.output = "apple, lantern, ocean, pencil, thunder"  # flat fields: the first exchange
    assert chain.check(a).kept and chain.check(b).kept
    assert chain.check(a).reason == "duplicate_instance"


@pytest.mark.parametrize("text, reason", [
    ("\"Hamlet\" was written by which playwright?", None),
    ("“熊猫”是哪个国家的国宝？请简要介绍。", None),
    ("《红楼梦》的作者是谁？请简要介绍。", None),
    ("(Optional) list three uses of vinegar.", None),
    ("- list three uses of vinegar.", "punct_start"),
    ("? what are three uses of vinegar", "punct_start"),
    ("”熊猫是哪个国家的国宝？请简要介绍。", "punct_start"),  # a closing quote is a remnant
    ("，熊猫是哪个国家的国宝？", "punct_start"),
])
def test_opening_quotes_and_brackets_are_not_punctuation_starts(text, reason):
    assert PunctStart().check(Record(text)) == reason


# ---- every generated field in the run's language (issue #29) ----------------------------

def test_chinese_run_drops_an_english_input_output_or_turn_and_names_the_field():
    chain = build_instance_chain(FilterConfig(), "zh")
    recs = [
        Record("请介绍一下长城的历史。", output="长城始建于春秋战国时期，秦朝时连接成万里长城。"),   # kept
        Record("请介绍一下长城的历史。", output="The Great Wall was built over many centuries."),
        Record("请总结下面这段话。", input="The weather is nice today and we went out.", output="天气很好。"),
        Record("请解释DNA。", output="DNA"),                                                    # a term: kept
        Record("把下面的句子翻译成英文。", input="你好，世界。", output="Hello, world, my friend."),  # kept
        Record("用Python写一个加法函数。", output="可以这样写：\n```python\ndef add(a, b):\n    return a + b\n```"),
        Record("请写一个关于猫的故事。", messages=[
            {"role": "user", "content": "请写一个关于猫的故事。"},
            {"role": "assistant", "content": "从前有一只小猫，它很喜欢晒太阳。"},
            {"role": "user", "content": "Can you make it longer please?"},
            {"role": "assistant", "content": "当然可以，小猫每天都去花园里玩。"}]),
    ]
    verdicts = chain.check_many(recs, keep=False)
    assert [v.reason for v in verdicts] == [None, "wrong_lang", "wrong_lang", None, None, None, "wrong_lang"]
    assert [v.detail.get("field") for v in verdicts[1:3]] == ["output", "input"]
    assert verdicts[6].detail["field"] == "messages[2]"


def test_english_run_drops_a_chinese_answer():
    chain = build_chain(FilterConfig(rouge=None, embed=None), "en")
    got = [v.reason for v in chain.check_many([
        Record("Explain photosynthesis to a child briefly.", output="光合作用是植物利用光能制造有机物的过程。"),
        Record("Explain photosynthesis to a child briefly.", output="Plants turn light into sugar."),
    ])]
    assert got == ["wrong_lang", None]


def test_cut_off_chinese_instruction_and_input_repeating_instruction_are_dropped():
    chain = build_chain(FilterConfig(rouge=None, embed=None), "zh")
    got = [v.reason for v in chain.check_many([
        Record("请写一首诗，"),                                               # 5 characters, ends on a comma
        Record("请解释什么是通货膨胀。", input="请解释什么是通货膨胀。"),     # input == instruction
        Record("你好吗"),                                                     # 3 characters: min_len 3
        Record("请写一首诗。"),
    ])]
    assert got == ["trailing_comma", "input_equals_instruction", "too_short", None]
    inst = build_instance_chain(FilterConfig(), "en")
    assert inst.check(Record("Summarize the text.", input="Summarize the text", output="A summary.")).reason \
        == "input_equals_instruction"


def test_min_len_counts_characters_in_chinese_and_says_so():
    chain = build_chain(FilterConfig(rouge=None, embed=None, min_len=6), "zh")
    assert [v.reason for v in chain.check_many([Record("写一首诗吧。"), Record("写一首关于春天的诗。")])] \
        == ["too_short", None]
    import dataclasses
    help_ = {f.name: f.metadata["help"] for f in dataclasses.fields(FilterConfig)}
    assert "characters for Chinese" in help_["min_len"] and "characters for Chinese" in help_["max_len"]


# ---- the prompts' own scaffolding (issue #29) --------------------------------------------

@pytest.mark.parametrize("rec, where", [
    (Record("Tell me a joke.", messages=[
        {"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "Why did the cat sit?"},
        {"role": "user", "content": "Your next message: tell me another one"},
        {"role": "assistant", "content": "Sure, here is one."}]), "messages[2]"),
    (Record("Sort the numbers.", input="Input:\n3, 1, 2", output="1, 2, 3"), "input"),
    (Record("Sort the numbers.", input="3, 1, 2", output="1, 2, 3\nTask: Sort the letters."), "output"),
    (Record("写一首诗。", output="春风又绿江南岸。\n用户：再写一首"), "output"),
    (Record("改写这句话。", output="#改写后的提示#：请写一首诗"), "output"),
])
def test_prompt_scaffolding_is_caught_in_any_field(rec, where):
    lang = "zh" if "诗" in rec.instruction or "改写" in rec.instruction else "en"
    v = build_instance_chain(FilterConfig(), lang).check(rec, keep=False)
    assert (v.reason, v.detail["field"]) == ("prompt_scaffolding", where)


def test_scaffolding_labels_come_from_every_prompt_file_and_plain_text_passes():
    from datagen.prompts import scaffolding

    en, en_cues = scaffolding("en")
    zh, _ = scaffolding("zh")
    assert {"Input", "Output", "Task", "User"} <= set(en) and "next message" in en_cues
    assert {"输入", "输出", "用户", "#改写后的提示#"} <= set(zh)
    assert "Rules" not in en  # a heading over a list, not a slot
    chain = build_instance_chain(FilterConfig(), "en")
    for text in ("The input is a list of numbers: sort it.", "Note: the task is easy.", "Outputs vary."):
        assert chain.check(Record("Sort them.", input="3, 1", output=text), keep=False).kept


def test_answer_chain_checks_language_and_scaffolding_of_answers_written_after_the_instruction():
    from datagen.filters import build_answer_chain

    chain = build_answer_chain(lang="zh")
    got = [chain.check(r, keep=False).reason for r in (
        Record("请介绍一下熊猫。", output="Pandas are bears that live in China and eat bamboo."),
        Record("请介绍一下熊猫。", output="熊猫是生活在中国的熊，主要吃竹子。\n用户：还有吗"),
        Record("请介绍一下熊猫。", output="熊猫是生活在中国的熊，主要吃竹子。"))]
    assert got == ["wrong_lang", "prompt_scaffolding", None]
