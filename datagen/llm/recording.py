"""A ChatClient that sends nothing: it records every request and answers with plausible
placeholder text, so a generator's own prompt building runs unchanged for `--dry-run`.

Placeholders have the shape the parsers expect (numbered lists for instructions and
questions, "Question:/Answer:" pairs, label lines, prose for answers), in the language of
the prompt, made of varied words so that dedup filters keep them. Requests the response
cache already answers are answered from it and counted as cached (they would cost $0).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Sequence

from .base import ChatClient, ChatRequest, Choice, Completion, CompletionRequest, Message, Usage
from .cache import ResponseCache, request_key
from .stages import (ANSWER, CLASSIFY, EXAMPLES, NUMBERED_QUESTIONS, NUMBERED_TASKS, QA_PAIRS, SENTENCE, SHORT_LINES,
                     Stage, as_stage)

_EN = ("river market signal garden theory canvas engine ladder harbor memory planet violin ledger "
       "compass orchard puzzle lantern meadow circuit voyage archive festival glacier novel recipe "
       "satellite village thunder pattern museum forest budget sensor poem bridge desert rhythm").split()
_ZH = list("山河市场信号花园理论画布引擎阶梯港口记忆星球提琴账本罗盘果园谜题灯笼草地电路航行档案节日冰川小说食谱卫星村庄雷声图案博物森林预算传感诗歌桥梁沙漠节奏")


class ProbeDone(Exception):
    """The recording client has seen enough requests for an estimate."""


@dataclass
class Recorded:
    stage: str
    messages: tuple[tuple[str, str], ...]
    max_tokens: int
    n: int
    cached: bool = False
    reply_chars: int = 0  # of the placeholder (or cached) replies: the probe's reply length


@dataclass
class RecordingClient(ChatClient):
    """Stands in for the `backend` client, whose capabilities it declares."""

    backend: str = "openai"
    model: str = "stub"
    cache: ResponseCache | None = None
    limit: int = 400  # requests before ProbeDone
    endpoint: str | None = None  # the online client's cache-key endpoint (None for local)
    usage: Usage = field(default_factory=Usage)
    recorded: list[Recorded] = field(default_factory=list)

    supports_raw_completion = True

    def __post_init__(self):
        self._rng = random.Random(0)
        local = self.backend == "local"
        self.supports_likelihood = self.prefers_extractive = local
        self.concurrent_calls = self.backend == "openai"

    def _take(self, stage: Stage, req: ChatRequest, cached: bool) -> Recorded:
        if len(self.recorded) >= self.limit:
            raise ProbeDone()
        rec = Recorded(stage.name, req.messages, req.max_tokens, max(1, req.n), cached)
        self.recorded.append(rec)  # pipelined rounds record from several threads: keep our own
        return rec

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        stage, out = as_stage(desc), []
        for req in requests:
            key = request_key(self.backend, self.model, req, endpoint=self.endpoint) if self.cache else None
            hit = self.cache.get(key) if key else None
            taken = self._take(stage, req, hit is not None)
            comps = hit if hit is not None else [Completion(req.prefill + self._placeholder(stage, req))
                                                 for _ in range(max(1, req.n))]
            taken.reply_chars = sum(len(c.text) - len(req.prefill) for c in comps)
            out.append(comps)
        return out

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw completions (Magpie): a question-like placeholder up to the end of the turn."""
        stage, out = as_stage(desc), []
        for req in requests:
            chat = ChatRequest(messages=(("user", req.prompt),), n=req.n, max_tokens=req.max_tokens)
            taken = self._take(stage, chat, False)
            zh = any("\u4e00" <= ch <= "\u9fff" for ch in req.prompt[-400:])
            text = (self._words(True, 10) + "？") if zh else f"How do I {self._words(False, 10)}?"
            taken.reply_chars = len(text) * max(1, req.n)
            out.append([Completion(text) for _ in range(max(1, req.n))])
        return out

    def tokenizer(self):
        """No model is loaded for an estimate: callers fall back to their fixed template."""
        return None

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        out = []
        for messages, prefill in items:
            taken = self._take(CLASSIFY, ChatRequest.make(messages, max_tokens=8, prefill=prefill), False)
            taken.reply_chars = 4  # one option: a token
            # mostly the last option ("No": not a classification task), now and then the first;
            # an equality judgement ("Equal"/"Different") rarely finds an evolution equal
            share = 0.05 if options[0] in ("Equal", "相同") else 0.25
            opt = options[0] if self._rng.random() < share else options[-1]
            # a likelihood-scoring client (local) is asked for every option's score
            # (Self-QA ranks sampled questions by them): the chosen option scores highest
            out.append(Choice(option=opt, scores={o: 0.0 if o == opt else -1.0 for o in options}, raw=opt))
        return out

    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        return self.choose_many([(messages, prefill)], options)[0]

    def close(self) -> None:
        if self.cache:
            self.cache.close()

    # -- placeholders -------------------------------------------------------------------
    def _words(self, zh: bool, n: int) -> str:
        if zh:
            return "".join(self._rng.choice(_ZH) for _ in range(n * 2))
        return " ".join(self._rng.choice(_EN) for _ in range(n))

    def _placeholder(self, stage: Stage, req: ChatRequest) -> str:
        prompt = req.messages[-1][1] if req.messages else ""
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in prompt[-400:])
        # sized as real replies run: lists of a few items, answers of a paragraph, never
        # their whole max_tokens; the estimate takes these lengths as the replies' lengths
        budget = max(8, req.max_tokens * 2 // 5)
        if stage.reply == QA_PAIRS:
            q, a = self._words(zh, 9), self._words(zh, max(6, min(12, budget // 2)))
            return f"问题：{q}？\n回答：{a}。" if zh else f"Question: Why does the {q}?\nAnswer: The {a}."
        if stage.reply == EXAMPLES:  # Self-Instruct joint: examples continuing "Example 1\nInput:"
            parts = []
            for i in (1, 2, 3):
                head = "" if i == 1 else f"Example {i}\nInput: "
                parts.append(f"{head}{self._words(zh, 10)}.\nOutput: {self._words(zh, max(6, min(30, budget // 8)))}.")
            return " " + "\n".join(parts)
        if stage.reply == ANSWER and "<<<\n" in prompt:
            # a grounded answer quotes its passage, as the grounding check expects of a real one
            passage = prompt.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
            sentences = [x for x in re.split(r"(?<=[。.!?！？])\s*", passage) if len(x) > 20] or [passage]
            return self._rng.choice(sentences).strip()
        if stage.reply == SENTENCE:  # an instance's input: a sentence or two
            return self._words(zh, 15) + ("。" if zh else ".")
        if stage.reply == SHORT_LINES:
            return "\n".join(self._words(zh, 1).title() for _ in range(3))
        if stage.reply in (NUMBERED_TASKS, NUMBERED_QUESTIONS):
            question = stage.reply == NUMBERED_QUESTIONS
            items = max(1, min(5 if question else 8, budget // 14))
            start = _next_number(req.prefill)
            lines = []
            for i in range(items):
                body = self._words(zh, 7 if question else 10)
                lines.append(f"{start + i}. " + (f"{body}？" if zh else
                                                  (f"Explain how the {body}?" if question
                                                   else f"Describe the {body}.")))
            text = "\n".join(lines)
            if req.prefill and text.startswith(req.prefill.strip()):
                return " " + text[len(req.prefill.strip()):].lstrip()
            return text
        return self._words(zh, min(45, budget * 3 // 4)) + ("。" if zh else ".")


def _next_number(prefill: str) -> int:
    head = prefill.strip().rstrip(".").strip()
    return int(head) if head.isdigit() else 1
