"""A ChatClient that sends nothing: it records every request and answers with plausible
placeholder text, so a generator's own prompt building runs unchanged for `--dry-run`.

Placeholders have the shape the parsers expect (numbered lists for instructions and
questions, "Question:/Answer:" pairs, label lines, prose for answers), in the language of
the prompt, made of varied words so that dedup filters keep them. Requests the response
cache already answers are answered from it and counted as cached (they would cost $0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from .base import ChatClient, ChatRequest, Choice, Completion, CompletionRequest, Message, Usage
from .cache import ResponseCache, request_key
from .stages import CLASSIFY, NUMBERED_QUESTIONS, NUMBERED_TASKS, QA_PAIRS, SHORT_LINES, Stage, as_stage

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

    def _take(self, stage: Stage, req: ChatRequest, cached: bool) -> None:
        if len(self.recorded) >= self.limit:
            raise ProbeDone()
        self.recorded.append(Recorded(stage.name, req.messages, req.max_tokens, max(1, req.n), cached))

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        stage, out = as_stage(desc), []
        for req in requests:
            key = request_key(self.backend, self.model, req, endpoint=self.endpoint) if self.cache else None
            hit = self.cache.get(key) if key else None
            self._take(stage, req, hit is not None)
            out.append(hit if hit is not None else
                       [Completion(req.prefill + self._placeholder(stage, req)) for _ in range(max(1, req.n))])
        return out

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw completions (Magpie): a question-like placeholder up to the end of the turn."""
        stage, out = as_stage(desc), []
        for req in requests:
            chat = ChatRequest(messages=(("user", req.prompt),), n=req.n, max_tokens=req.max_tokens)
            self._take(stage, chat, False)
            zh = any("\u4e00" <= ch <= "\u9fff" for ch in req.prompt[-400:])
            text = (self._words(True, 10) + "？") if zh else f"How do I {self._words(False, 10)}?"
            out.append([Completion(text) for _ in range(max(1, req.n))])
        return out

    def tokenizer(self):
        """No model is loaded for an estimate: callers fall back to their fixed template."""
        return None

    def choose_many(self, items, options: Sequence[str]) -> list[Choice]:
        out = []
        for messages, prefill in items:
            self._take(CLASSIFY, ChatRequest.make(messages, max_tokens=8, prefill=prefill), False)
            # mostly the last option ("No": not a classification task), now and then the first
            opt = options[0] if self._rng.random() < 0.25 else options[-1]
            out.append(Choice(option=opt, scores={}, raw=opt))
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
        budget = max(8, req.max_tokens * 2 // 5)  # replies use ~40% of their max_tokens
        if stage.reply == QA_PAIRS:
            q, a = self._words(zh, 9), self._words(zh, max(6, budget // 2))
            return f"问题：{q}？\n回答：{a}。" if zh else f"Question: Why does the {q}?\nAnswer: The {a}."
        if stage.reply == SHORT_LINES:
            return "\n".join(self._words(zh, 1).title() for _ in range(3))
        if stage.reply in (NUMBERED_TASKS, NUMBERED_QUESTIONS):
            items = max(1, min(8, budget // 14))
            start = _next_number(req.prefill)
            lines = []
            for i in range(items):
                body = self._words(zh, 10)
                lines.append(f"{start + i}. " + (f"{body}？" if zh else
                                                  (f"Explain how the {body}?" if stage.reply == NUMBERED_QUESTIONS
                                                   else f"Describe the {body}.")))
            text = "\n".join(lines)
            if req.prefill and text.startswith(req.prefill.strip()):
                return " " + text[len(req.prefill.strip()):].lstrip()
            return text
        return self._words(zh, budget * 3 // 4) + ("。" if zh else ".")


def _next_number(prefill: str) -> int:
    head = prefill.strip().rstrip(".").strip()
    return int(head) if head.isdigit() else 1
