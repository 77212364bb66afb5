"""Reasoning traces: the thinking a reasoning model returns beside its answer.

Servers return it two ways. vLLM with a reasoning parser, DeepSeek's API and most
OpenAI-compatible proxies put it in the reply message's `reasoning_content` (some name
it `reasoning`); a server without a parser leaves it in the content as a leading
`<think>…</think>` block (Qwen3, DeepSeek-R1 and their distills). DeepSeek-R1's chat
template opens the `<think>` itself, so its content starts inside the trace and only the
closing tag appears. `split_reasoning` turns all three into (answer, trace, closed), so
every parser, filter, judge and dedup downstream sees the answer alone.
"""

from __future__ import annotations

import re

OPEN, CLOSE = "<think>", "</think>"
_OPEN_RE = re.compile(r"^\s*<think>", re.I)
_CLOSE_RE = re.compile(r"</think>", re.I)


def split_reasoning(content: str, reasoning: str | None = None) -> tuple[str, str, bool]:
    """(answer, trace, closed) of one reply. `reasoning` is the server's separate field,
    when it sent one. `closed` is False when a trace was opened and never closed (the
    reply was cut off while thinking): then there is no answer."""
    content = content or ""
    trace = (reasoning or "").strip()
    m = _OPEN_RE.match(content)
    if m:
        rest = content[m.end():]
        end = _CLOSE_RE.search(rest)
        if end is None:
            return "", _join(trace, rest.strip()), False
        return rest[end.end():].lstrip(), _join(trace, rest[:end.start()].strip()), True
    end = _CLOSE_RE.search(content)
    if end is not None and OPEN not in content[:end.start()].lower():
        # DeepSeek-R1 style: the template opened the trace, the reply closes it
        return content[end.end():].lstrip(), _join(trace, content[:end.start()].strip()), True
    return content, trace, True


def _join(a: str, b: str) -> str:
    return "\n\n".join(x for x in (a, b) if x)


def inline(answer: str, trace: str) -> str:
    """The answer with its trace in front, as `<think>` tags, the way Qwen3 and DeepSeek-R1
    chat templates and LLaMA-Factory's reasoning templates read an assistant turn."""
    return f"{OPEN}\n{trace}\n{CLOSE}\n\n{answer}" if trace else answer


def trace_meta(completion) -> dict:
    """The record meta of a completion's trace: `reasoning` (the text), and
    `reasoning_truncated: true` when it never closed. Empty when there was none."""
    out: dict = {}
    if completion.reasoning:
        out["reasoning"] = completion.reasoning
    if not completion.reasoning_closed:
        out["reasoning_truncated"] = True
    return out


def split_completions(comps, count=None) -> list:
    """Split each completion's text into answer and trace in place (a local model that
    writes `<think>` blocks); `count(text) -> tokens` counts the trace's tokens."""
    for c in comps:
        text, trace, closed = split_reasoning(c.text)
        if trace or not closed:
            c.text, c.reasoning, c.reasoning_closed = text, trace, closed
            if count is not None:
                c.reasoning_tokens = count(trace)
    return comps
