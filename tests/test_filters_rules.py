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
        Record("翻译成英文。", input="你好", output="翻译如下："),         # cut off, full-width colon
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
    msgs = [{"role": "user", "content": f"Sort the words alphabetically.\n\nInput: {WORDS}"},
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
