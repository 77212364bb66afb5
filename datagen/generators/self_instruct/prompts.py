"""Self-Instruct prompt building and reply parsing: pure functions on strings.

Every prompt comes from a template file (prompts/<lang>/self_instruct_*.txt); this module
only fills them in and reads the replies. Nothing here calls a model, so all of it is
tested on plain strings.
"""

from __future__ import annotations

import re
from typing import Sequence

from ...prompts import Prompt, load_prompt

TEMPLATES = (
    "self_instruct_bootstrap", "self_instruct_clf", "self_instruct_clf_example", "self_instruct_clf_examples",
    "self_instruct_input", "self_instruct_output",
    "self_instruct_output_with_input", "self_instruct_labels", "self_instruct_clf_input",
    "self_instruct_followup", "self_instruct_instances",
)
CLF_OPTIONS = ("Yes", "No")  # asked for in both languages: "是的"/"不是" would both contain 是

# Words a parser must recognise in replies; they mirror the template wording.
VOCAB = {
    "en": {"user": "User", "assistant": "Assistant"},
    "zh": {"user": "用户", "assistant": "助手"},
}
# Where a reply has said all it should: the start of the next example's field. A small
# model otherwise writes more examples until max_tokens. (At most 4: OpenAI's limit.)
STOPS = {
    "en": {"input": ("\nTask:", "\nOutput:"), "labels": ("\n\n", "\nTask:"), "instances": ("\nTask:",),
           "clf_input": ("\nTask:", "\nLabel:"), "followup": ("\nAssistant:",)},
    "zh": {"input": ("\n任务：", "\n输出："), "labels": ("\n\n", "\n任务："), "instances": ("\n任务：",),
           "clf_input": ("\n任务：", "\n标签："), "followup": ("\n助手：",)},
}
_NO_INPUT = {"none", "none.", "n/a", "na", "no input", "no input.", "no input needed", "(none)", "empty",
             "not applicable", "无", "无。", "无输入", "没有", "不需要", "不需要输入", "（无）", "(无)"}
# Field labels a model may echo at the start of a reply, or start the next example with.
_LEAD_LABEL = re.compile(r"^\s*(?:\*\*)?(?:input|output|answer|label|user|assistant|输入|输出|答案|回答|标签|用户|助手)"
                         r"\s*(?:\*\*)?\s*[:：]\s*", re.I)
_NEXT_FIELD = re.compile(r"\n\s*(?:\*\*)?(?:task|input|output|label|labels|classification|user|assistant|"
                         r"任务|输入|输出|标签|分类任务|用户|助手)\s*(?:\*\*)?\s*[:：]", re.I)

# An item marker: "9.", "9)", "(9)", "９．", "9、", "Task 9:", "**9.**", "- 9." and "Task:".
_MARKER = re.compile(
    r"""^\s*(?:[-*•]\s+)?(?:\*\*)?\s*
    (?:
        (?:(?:task|instruction|任务|指令)\s*)?[(（]?\s*(?P<num>[0-9０-９]{1,3})\s*[.)．、:：）](?![0-9０-９])
      | (?:task|instruction|任务|指令)\s*(?P<num2>[0-9０-９]{1,3})?\s*[:：]
    )
    \s*(?:\*\*)?\s*""",
    re.I | re.X,
)
_DOUBLE_START = re.compile(r"^\s*[0-9]{1,3}\.\s*(?=(?:\*\*)?[0-9]{1,3}\s*[.)](?:\*\*)?\s)")
_WS = re.compile(r"\s+")
_QUOTES = "\"'“”‘’「」`*"


def _to_int(digits: str | None) -> int | None:
    if not digits:
        return None
    return int(digits.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


def clean_item(text: str) -> str:
    """One instruction on one line: collapse whitespace, drop markdown and wrapping quotes."""
    text = _WS.sub(" ", text).strip()
    text = text.replace("**", "").strip()
    while len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if text[:1].isascii() and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def _strip_marker(line: str) -> tuple[bool, int | None, str]:
    """(is an item start, its number, the text after the marker)."""
    m = _MARKER.match(line)
    if not m:
        return False, None, line
    num = _to_int(m.group("num") or m.group("num2"))
    return True, num, line[m.end():]


def parse_numbered_list(text: str, truncated: bool = False) -> tuple[list[str], str | None]:
    """Items of a numbered list reply, and the item dropped because the reply was cut off.

    A line with a marker starts an item; lines right after it continue it; a blank line
    ends it, and unnumbered text after a blank line (a chatty sign-off) is ignored, as is
    text before the first marker. When `truncated` (finish_reason "length") the last item
    is incomplete and is returned separately instead of among the items."""
    # an API that ignores the prefill "9." answers "1. ...", which the client makes "9.1. ..."
    text = _DOUBLE_START.sub("", text, count=1)
    items: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            if current is not None:
                items.append(" ".join(current))
                current = None
            continue
        is_item, _num, rest = _strip_marker(line)
        if is_item:
            if current is not None:
                items.append(" ".join(current))
            current = [rest]
        elif current is not None:
            current.append(line)
    if current is not None:
        items.append(" ".join(current))
    items = [clean_item(i) for i in items]
    items = [i for i in items if i]
    cut = None
    if truncated and items:
        cut = items.pop()
    return items, cut


# ---- prompts ---------------------------------------------------------------------------

def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def bootstrap_prompt(examples: Sequence[str], lang: str = "en") -> tuple[list[dict[str, str]], str]:
    """The instruction-bootstrap request: examples numbered 1..k in the user message, and
    the reply prefilled with "k+1." so even a small model continues the list."""
    lines = [f"{i}. {clean_item(e).rstrip(':：')}" for i, e in enumerate(examples, 1)]
    text = load_prompt("self_instruct_bootstrap", lang).render(examples="\n".join(lines))
    return _user(text), f"{len(lines) + 1}."


def clf_prompt(instruction: str, examples: Sequence[tuple[str, bool]] = (), lang: str = "en") -> list[dict[str, str]]:
    """Few-shot "is this a classification task?", answered with one of CLF_OPTIONS.

    `examples` are (instruction, is_classification) pairs, e.g. labelled seeds; without
    them the language's default examples (self_instruct_clf_examples.txt) are used."""
    if examples:
        tpl = load_prompt("self_instruct_clf_example", lang)
        shots = "\n\n".join(tpl.render(instruction=clean_item(t), answer=CLF_OPTIONS[0] if clf else CLF_OPTIONS[1])
                          for t, clf in examples)
    else:
        shots = load_prompt("self_instruct_clf_examples", lang).text
    text = load_prompt("self_instruct_clf", lang).render(examples=shots.strip(), instruction=clean_item(instruction))
    return _user(text)


def input_prompt(instruction: str, lang: str = "en") -> list[dict[str, str]]:
    return _user(load_prompt("self_instruct_input", lang).render(instruction=instruction))


def output_prompt(instruction: str, input: str = "", lang: str = "en") -> list[dict[str, str]]:
    """The task as a user would send it: the answer to this is the instance's output."""
    if input.strip():
        tpl = load_prompt("self_instruct_output_with_input", lang)
        return _user(tpl.render(instruction=instruction, input=input))
    return _user(load_prompt("self_instruct_output", lang).render(instruction=instruction))


def labels_prompt(instruction: str, max_labels: int, lang: str = "en") -> list[dict[str, str]]:
    tpl = load_prompt("self_instruct_labels", lang)
    return _user(tpl.render(instruction=instruction, max_labels=max_labels))


def clf_input_prompt(instruction: str, label: str, lang: str = "en") -> list[dict[str, str]]:
    return _user(load_prompt("self_instruct_clf_input", lang).render(instruction=instruction, label=label))


def format_conversation(messages: Sequence[dict[str, str]], lang: str = "en") -> str:
    v = VOCAB[lang]
    sep = "：" if lang == "zh" else ": "
    names = {"user": v["user"], "assistant": v["assistant"]}
    return "\n\n".join(f"{names.get(m['role'], m['role'])}{sep}{m['content'].strip()}"
                       for m in messages if m["role"] in names)


# joint instances (--instance-mode joint): "Example 1 / Input: / Output:" blocks in one reply
EXAMPLE_PREFILL = {"en": "Example 1\nInput:", "zh": "示例 1\n输入："}
_EXAMPLE_HEAD = re.compile(r"^\s*(?:\*\*)?(?:example|示例)\s*[0-9０-９]{1,2}\s*(?:\*\*)?\s*[:：.]?\s*$", re.I | re.M)
_IN_FIELD = re.compile(r"^\s*(?:\*\*)?(?:input|输入)\s*(?:\*\*)?\s*[:：]", re.I | re.M)
_OUT_FIELD = re.compile(r"^\s*(?:\*\*)?(?:output|输出)\s*(?:\*\*)?\s*[:：]", re.I | re.M)
_TASK_FIELD = re.compile(r"^\s*(?:task|任务)\s*[:：]", re.I | re.M)


def instances_prompt(instruction: str, n: int, lang: str = "en") -> tuple[list[dict[str, str]], str]:
    """(messages, prefill) asking for up to n examples (input + output) of one task."""
    return _user(load_prompt("self_instruct_instances", lang).render(instruction=instruction, n=n)), \
        EXAMPLE_PREFILL[lang]


def parse_examples(text: str, truncated: bool = False) -> list[tuple[str, str]]:
    """(input, output) pairs from a joint reply; input "" when the task needs none. An
    example without an output is skipped, and so is the last one of a reply cut by
    max_tokens (its output may be cut short)."""
    task = _TASK_FIELD.search(text)  # a model that goes on with a new task has finished
    blocks = _EXAMPLE_HEAD.split(text[: task.start()] if task else text)
    out: list[tuple[str, str]] = []
    complete = blocks[:-1] if truncated else blocks
    for block in complete:
        i, o = _IN_FIELD.search(block), _OUT_FIELD.search(block)
        if not o:
            continue
        inp = block[i.end(): o.start()].strip() if i and i.start() < o.start() else ""
        output = block[o.end():].strip()
        if inp.strip(_QUOTES).strip().lower() in _NO_INPUT:
            inp = ""
        if output:
            out.append((inp, output))
    return out


def followup_prompt(messages: Sequence[dict[str, str]], lang: str = "en") -> list[dict[str, str]]:
    tpl = load_prompt("self_instruct_followup", lang)
    return _user(tpl.render(conversation=format_conversation(messages, lang)))


def template_shas(lang: str) -> dict[str, str]:
    """{ref: sha} of every Self-Instruct template of `lang` (for meta and manifests)."""
    return {p.ref: p.sha for p in (load_prompt(n, lang) for n in TEMPLATES)}


def template(name: str, lang: str) -> Prompt:
    return load_prompt(name, lang)


# ---- reply parsing -----------------------------------------------------------------------

def _first_field(text: str) -> str:
    """The reply up to where a model starts the next field or example ("Task:", "Output:")."""
    text = _LEAD_LABEL.sub("", text.strip(), count=1)
    m = _NEXT_FIELD.search("\n" + text)
    if m:
        text = ("\n" + text)[: m.start()]
    return text.strip()


def parse_input(text: str) -> str:
    """The instance input from an input-first reply; "" when the task needs no input."""
    text = _first_field(text)
    if text.strip().strip(_QUOTES).strip().lower() in _NO_INPUT:
        return ""
    return text


def parse_output(text: str) -> str:
    """The answer text, without an echoed "Output:" label."""
    return _LEAD_LABEL.sub("", text.strip(), count=1).strip()


def parse_followup(text: str) -> str:
    """The next user message, without a "User:" label or an imagined assistant reply."""
    return _first_field(text)


def _label_ok(label: str) -> bool:
    from ...text import length_units

    return 0 < length_units(label) <= 8 and len(label) <= 60


def parse_labels(text: str, max_labels: int, truncated: bool = False) -> list[str]:
    """Class labels, one per line (bullets and numbers removed); a single line listing
    them ("positive, negative or neutral") is split. Stops at the next "Task:" or at a
    blank line after the first label."""
    text = re.sub(r"^\s*(?:labels?|标签)\s*[:：]\s*", "", text.strip(), flags=re.I)
    lines: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if lines:
                break
            continue
        if re.match(r"^\s*(?:task|input|任务|输入)\s*[:：]", line, re.I):
            break
        lines.append(line)
    if truncated and lines:
        lines.pop()
    if len(lines) == 1:
        lines = re.split(r"\s*(?:,|，|、|/|;|；|\bor\b|或者|或|还是)\s*", lines[0])
    labels: list[str] = []
    seen: set[str] = set()
    for line in lines:
        _, _, rest = _strip_marker(line)
        label = re.sub(r"^\s*[-*•]\s*", "", rest)
        label = label.replace("**", "").strip().strip(_QUOTES).strip().rstrip(".。")
        if not _label_ok(label) or label.lower() in seen:
            continue
        seen.add(label.lower())
        labels.append(label)
    return labels[:max_labels]
