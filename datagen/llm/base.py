"""The ChatClient interface: messages in, n completions out, usage recorded.

Small local models need two extras that API models tolerate without:
- `choose`: ask for one of a fixed set of answers. The local backend scores each option
  by likelihood; an API backend parses the reply (and uses logprobs where offered).
- `prefill`: the start of the assistant's reply (e.g. "9." to continue a list).

What a client can do beyond that is declared, never probed: class attributes with
defaults on `ChatClient` (as simonw/llm's `_BaseModel` has `can_stream`), which a backend
overrides and a caller reads:
- `supports_raw_completion`: `complete_many(requests: [CompletionRequest])`, the prompt fed
  to the model as is (no chat template). Magpie needs it to feed a chat template cut at the
  start of a user turn. The local backend has it; the openai backend has it against
  servers with `/v1/completions` (vLLM, llama.cpp, TGI) — chat-only APIs such as
  api.openai.com cannot do it, and say so (LLMError).
- `supports_likelihood`: `choose` scores every option by the model's likelihood (its
  `Choice.scores` are log-probabilities), so a caller may rank text by it.
- `prefers_extractive`: a small model that cannot write grounded answers; Self-QA's
  `answer_mode: auto` extracts answers from the text instead.
- `concurrent_calls`: calls from several threads overlap on the wire (an online API), so
  pipelining rounds pays; a local engine runs one at a time, a Batch API client makes
  each call one job.
- `returns_reasoning`: completions may carry a reasoning trace apart from the answer.
`choose_many` and `tokenizer` have defaults every client may keep (one `choose` a item; no
tokenizer). `usage` (its counts read from its accounts, llm/ledger.py; its `ledger` is
those accounts, or None when the client was made without one) is always there.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field, asdict
from typing import Sequence

from .ledger import Ledger
from .stages import CLASSIFY

Message = dict  # {"role": "system"|"user"|"assistant", "content": str}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]
    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    prefill: str = ""
    seed: int | None = None  # distinguishes repeated identical prompts (and the cache key)

    @classmethod
    def make(cls, messages: Sequence[Message], **kw) -> "ChatRequest":
        msgs = tuple((m["role"], m["content"]) for m in messages)
        if "stop" in kw and kw["stop"] is not None:
            kw["stop"] = tuple(kw["stop"])
        return cls(messages=msgs, **{k: v for k, v in kw.items() if v is not None})

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key_fields(self) -> dict:
        d = asdict(self)
        d["messages"] = [list(m) for m in self.messages]
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class CompletionRequest:
    """A raw-text completion request (`complete_many`): `prompt` is sent as it is."""

    prompt: str
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def key_fields(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass
class Completion:
    text: str  # includes the prefill, so parsers see the whole reply
    finish_reason: str = "stop"  # "length" when cut off by max_tokens
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    # a reasoning model's trace, apart from `text` (llm/reasoning.py); reasoning_closed is
    # False when the trace was cut off before it ended (there is no answer then);
    # reasoning_tokens: the server's count (completion_tokens_details), part of completion_tokens
    reasoning: str = ""
    reasoning_closed: bool = True
    reasoning_tokens: int = 0


@dataclass
class Choice:
    option: str | None  # None only when an API reply matched no option
    scores: dict[str, float] = field(default_factory=dict)
    raw: str = ""


def _total(key: str, doc: str | None = None) -> property:
    """A read-only count of Usage: the accounts' total of `key`."""
    return property(lambda self: self.accounts.totals()[key], doc=doc)


@dataclass
class Usage:
    """A client's counts (requests, cached, tokens, retries, requests sent), read from its
    accounts (llm/ledger.py), the one place a call is recorded: a client made without a
    ledger still has accounts, priceless and uncapped, so the two never disagree.
    Beside them, throughput: when the first request went out, requests in flight now and
    at most, and the integral of in-flight over time (its mean over a run = in-flight
    seconds / run seconds)."""

    accounts: Ledger = field(default_factory=Ledger.counting, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    first_sent: float | None = field(default=None, repr=False, compare=False)
    in_flight: int = field(default=0, repr=False, compare=False)
    peak_in_flight: int = field(default=0, repr=False, compare=False)
    in_flight_seconds: float = field(default=0.0, repr=False, compare=False)
    _since: float = field(default=0.0, repr=False, compare=False)

    # -- the counts, all from the accounts ------------------------------------------------
    @property
    def ledger(self) -> Ledger | None:
        """The run's accounts by stage, priced and capped, when the client was made with a
        ledger (llm/__init__.py); else None (the counting accounts are not shown as one)."""
        return None if self.accounts.counting_only else self.accounts

    @ledger.setter
    def ledger(self, ledger: Ledger | None) -> None:
        # replaces the accounts and so the counts (a new client's, a Ray block's own)
        self.accounts = Ledger.counting() if ledger is None else ledger

    requests = _total("requests")
    cached = _total("cached")
    prompt_tokens = _total("prompt_tokens")
    completion_tokens = _total("completion_tokens")
    retries = _total("retries")
    sent_requests = _total("sent", """Requests sent, retries and the re-asks of a server that ignores `n`
        included (`requests` counts calls: one per ChatRequest); a backend with no wire sends one a call.""")

    # -- throughput -----------------------------------------------------------------------
    def sent(self) -> None:
        """A request went out (call `returned()` when it is back)."""
        with self._lock:
            now = time.perf_counter()
            if self.first_sent is None:
                self.first_sent = now
            self._tick(now)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def returned(self) -> None:
        with self._lock:
            self._tick(time.perf_counter())
            self.in_flight -= 1

    def _tick(self, now: float) -> None:
        if self.in_flight:
            self.in_flight_seconds += self.in_flight * (now - self._since)
        self._since = now

    # -- the gate and the record ----------------------------------------------------------
    def gate(self, requests: Sequence["ChatRequest"], stage: str | None = None) -> None:
        """Before sending: the ledger raises BudgetExceeded when these would pass the cap."""
        self.accounts.gate(requests, stage)

    def admit(self, requests: Sequence["ChatRequest"], stage: str | None = None) -> int:
        """Before sending: how many of `requests` (the first ones) fit under the cap."""
        return self.accounts.admit(requests, stage)

    def add(self, completions: Sequence[Completion], cached: bool = False, retries: int = 0,
            stage: str | None = None, mode: str = "online", sent: int | None = None):
        """One call's completions; `sent`: the requests it took (default 1 + retries).
        Usage is per request: n completions share one prompt."""
        pt = completions[0].prompt_tokens if completions else 0
        self.accounts.record(stage, pt, sum(c.completion_tokens for c in completions),
                             cached=cached, retries=retries, mode=mode, sent=sent,
                             reasoning_tokens=sum(c.reasoning_tokens for c in completions))

    def as_dict(self) -> dict:
        t = self.accounts.totals()
        return {
            "requests": t["requests"],
            "cached": t["cached"],
            "prompt_tokens": t["prompt_tokens"],
            "completion_tokens": t["completion_tokens"],
            "total_tokens": t["prompt_tokens"] + t["completion_tokens"],
            "retries": t["retries"],
        }


class ChatClient:
    """The base of every client: what it must do (`chat_many`, `choose`) and what it can do
    (capabilities, see the module doc), with defaults a backend overrides."""

    backend: str = ""
    model: str = ""
    usage: Usage  # set by each client's constructor
    supports_raw_completion: bool = False
    supports_likelihood: bool = False
    prefers_extractive: bool = False
    concurrent_calls: bool = False
    returns_reasoning: bool = False

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None) -> list[list[Completion]]:
        """Run requests (concurrently where the backend can); one list of n completions each.
        `desc`: the calls' stage (llm/stages.py), for the progress bar and the ledger."""
        raise NotImplementedError

    def choose(self, messages: Sequence[Message], options: Sequence[str], prefill: str = "") -> Choice:
        """Pick one of `options` as the reply to `messages`."""
        raise NotImplementedError

    def choose_many(self, items: Sequence[tuple[Sequence[Message], str]], options: Sequence[str]) -> list[Choice]:
        """`choose` for each (messages, prefill); a backend that can sends them together."""
        return [self.choose(m, options, p) for m, p in items]

    def complete_many(self, requests: Sequence[CompletionRequest], desc: str | None = None) -> list[list[Completion]]:
        """Raw-text completions (where `supports_raw_completion`)."""
        from ..errors import LLMError

        raise LLMError(f"the {self.backend} backend cannot do raw completions")

    def tokenizer(self):
        """The model's tokenizer, where the client runs the model itself; else None."""
        return None

    def warm_up(self) -> None:
        """Start what the first request needs (a connection pool, an event loop) in the
        background, while the caller builds the rest of the run; never waits, never fails."""

    def close(self) -> None:
        pass


def chat(client: ChatClient, messages: Sequence[Message], **kw) -> list[Completion]:
    """One request through `client`; kw are ChatRequest fields."""
    return client.chat_many([ChatRequest.make(messages, **kw)])[0]


def match_option(reply: str, options: Sequence[str]) -> str | None:
    """The option a free-text reply names: exact, then prefix, then first mention."""
    text = reply.strip().strip("\"'*`").strip()
    low = text.lower()
    for opt in options:
        if low == opt.lower():
            return opt
    for opt in sorted(options, key=len, reverse=True):
        if _find_word(low, opt.lower()) == 0:
            return opt
    hits = [(pos, opt) for opt in options if (pos := _find_word(low, opt.lower())) >= 0]
    return min(hits)[1] if hits else None


def _find_word(text: str, word: str) -> int:
    """Position of `word` in `text` as a whole word ("no" is not in "cannot"); CJK text
    has no spaces between words, so there a plain substring search is all there is."""
    if not word:
        return -1
    if any("\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in word):
        return text.find(word)
    m = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text)
    return m.start() if m else -1


def choose_by_likelihood(client, key: str | None, messages: Sequence[Message], options: Sequence[str],
                         prefill: str = "") -> Choice:
    """A local engine's choose(): the option with the highest `client.option_scores`,
    answered from and stored in `client.cache` under `key` (None: no cache)."""
    if key and (hit := client.cache.get_json(key)) is not None:
        client.usage.add([], cached=True, stage=CLASSIFY.name)
        return Choice(**hit)
    scores = client.option_scores(messages, options, prefill)
    best = max(scores, key=scores.get)
    if key:
        client.cache.put_json(key, {"option": best, "scores": scores, "raw": best})
    return Choice(option=best, scores=scores, raw=best)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two sequences share (a KV cache's reusable prefix)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
