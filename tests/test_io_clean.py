"""datagen/io/clean.py: wrapped lines, hyphens, CJK spacing, running heads, page starts."""

from datagen.io.clean import clean_pages, drop_running_lines


def test_english_lines_join_with_a_space_and_split_words_rejoin():
    page = ("Tea is made from the leaves of Camellia\nsinensis, an ever-\ngreen shrub. Its oxi-\n"
            "dation decides the colour; oxidation takes hours.\n\nA new paragraph.")
    text, _ = clean_pages([page], paged=False)
    # "oxidation" is written whole elsewhere: the hyphen goes; "evergreen" is not: it stays
    assert text == ("Tea is made from the leaves of Camellia sinensis, an ever-green shrub. Its oxidation "
                    "decides the colour; oxidation takes hours.\n\nA new paragraph.")


def test_chinese_lines_join_without_spaces():
    page = "绿茶是不发酵茶，采摘后经过杀\n青、揉捻和干燥制成。 红 茶是全发酵茶，\nPrompt\n长度越长成本越高。"
    text, _ = clean_pages([page], paged=False)
    assert text == "绿茶是不发酵茶，采摘后经过杀青、揉捻和干燥制成。红茶是全发酵茶，Prompt长度越长成本越高。"


def test_markdown_blocks_are_kept():
    page = ("# Title\nFirst line of a\nparagraph.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n"
            "continued\n\n```\ncode  line\nmore\n```\nafter")
    text, _ = clean_pages([page], paged=False)
    assert text == ("# Title\n\nFirst line of a paragraph.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n"
                    "- two continued\n\n```\ncode  line\nmore\n```\n\nafter")


def test_running_heads_and_page_numbers_dropped():
    pages = [f"ACME Manual — Chapter 1\nBody text of page {n} starts here and\ngoes on.\nPage {n} of 3"
             for n in (1, 2, 3)]
    pages[1] = pages[1].replace("Page 2 of 3", "2")
    text, starts = clean_pages(pages)
    assert "ACME" not in text and "Page" not in text.replace("page", "")
    assert text.count("Body text") == 3
    assert [text[s:s + 17] for s in starts] == ["Body text of page"] * 3


def test_a_sentence_over_a_page_break_is_joined_and_pages_located():
    pages = ["Intro.\n\nThe leaves are heated", "soon after picking.\n\nNext part.", "", "Last page."]
    text, starts = clean_pages(pages)
    assert text == "Intro.\n\nThe leaves are heated soon after picking.\n\nNext part.\n\nLast page."
    assert starts[0] == 0 and text[starts[1]:].startswith("soon after picking.")
    assert starts[2] == starts[3] == text.index("Last page.")  # an empty page starts where the next does
    # a page ending with a full sentence ends the paragraph
    text, _ = clean_pages(["First page ends here.", "Second page starts."])
    assert text == "First page ends here.\n\nSecond page starts."


def test_repeated_content_lines_in_the_middle_are_kept():
    pages = [["Header", "same body line", "x"], ["Header", "same body line", "y"], ["Header", "z", "w"]]
    assert drop_running_lines(pages) == [["same body line", "x"], ["same body line", "y"], ["z", "w"]]
