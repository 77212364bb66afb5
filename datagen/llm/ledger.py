"""What a run spent: every LLM call accounted by stage, model, endpoint and mode, in
requests, cached hits, retries, tokens and dollars; and the budget gate that stops a run
before it would cross `--max-cost` or `--max-total-tokens`.

Prices come from `prices.yaml` beside this module (dated, with their source), laid under
a user file (`--prices FILE` or $DATAGEN_PRICES). A model with no price costs None
("unknown"): its tokens are counted, its dollars never guessed. The local backend is $0.
Cached calls cost nothing and are counted as cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import ConfigError, DatagenError
from .prices import PRICES_FILE, Price, PriceTable  # noqa: F401 (the ledger's price table)
from .stages import as_stage


NOT_ASKED = "not asked: budget"  # the raw reply of a fixed-choice question the cap refused


class BudgetExceeded(DatagenError):
    """The next requests would cross the run's cap; nothing more is sent. The runner turns
    this into a normal stop that publishes what was kept."""

    exit_code = 0

    def __init__(self, message: str, figures: dict[str, Any] | None = None):
        super().__init__(message)
        self.figures = figures or {}


def stage_of(desc: str | None) -> str:
    """The ledger line of a chat_many `desc`: its Stage's name (llm/stages.py); a plain
    string names its own stage."""
    return as_stage(desc).name


# -- token counting -------------------------------------------------------------------
class TokenCounter:
    """Counts prompt tokens: tiktoken for OpenAI models when its encoding is at hand, the
    model's own tokenizer for the local backend, else chars/4 — and says which (`method`)."""

    def __init__(self, backend: str = "openai", model: str | None = None):
        self._encode = None
        self.method = "chars/4 heuristic"
        if backend == "local":
            self._try_local()
        elif model and (PriceTable.load().lookup(model) or model.startswith(("gpt-", "o1", "o3", "o4"))):
            self._try_tiktoken(model)

    def _try_tiktoken(self, model: str) -> None:
        try:
            import tiktoken

            try:
                enc = tiktoken.encoding_for_model(model)
            except KeyError:
                enc = tiktoken.get_encoding("o200k_base")
        except Exception:  # noqa: BLE001 - not installed, or its encoding file cannot be fetched offline
            return
        self._encode, self.method = enc.encode, f"tiktoken {enc.name}"

    def _try_local(self) -> None:
        try:
            from transformers import AutoTokenizer

            from .embedded import smollm2_dir

            tok = AutoTokenizer.from_pretrained(str(smollm2_dir()))
        except Exception:  # noqa: BLE001 - weights package missing: fall back, labelled
            return
        self._encode, self.method = (lambda s: tok(s)["input_ids"]), "local tokenizer"

    def count(self, text: str) -> int:
        if self._encode is not None:
            return len(self._encode(text))
        return max(1, (len(text) + 3) // 4)

    def prompt_tokens(self, messages: Sequence[tuple[str, str]]) -> int:
        # ~4 tokens of chat framing per message (OpenAI's documented overhead) + 3 for the reply
        return sum(self.count(content) + 4 for _, content in messages) + 3


def heuristic_tokens(messages: Sequence[tuple[str, str]]) -> int:
    return sum((len(c) + 3) // 4 + 4 for _, c in messages) + 3


# -- the ledger -----------------------------------------------------------------------
@dataclass
class LineItem:
    requests: int = 0  # calls (one per request asked for)
    sent: int = 0  # HTTP requests the endpoint answered: retries and re-asks of a server that ignores n included
    cached: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float | None = 0.0  # None: the model has no price
    reasoning_tokens: int = 0  # of completion_tokens, the thinking (already priced with them)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "sent": self.sent, "cached": self.cached, "retries": self.retries,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "reasoning_tokens": self.reasoning_tokens,
                "dollars": None if self.dollars is None else round(self.dollars, 8)}


@dataclass
class Budget:
    max_cost: float | None = None  # dollars
    max_tokens: int | None = None  # prompt + completion tokens, all stages

    def __bool__(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None


class Ledger:
    """Thread-safe accounts of one client. `record` after each call; `gate` before sending."""

    def __init__(self, backend: str, model: str, endpoint: str = "", prices: PriceTable | None = None,
                 budget: Budget | None = None):
        self.backend, self.model, self.endpoint = backend, model, endpoint
        self.price = None if backend == "local" else (prices or PriceTable.load()).lookup(model)
        self.budget = budget or Budget()
        if self.budget.max_cost is not None and backend != "local" and self.price is None:
            raise ConfigError(f"--max-cost needs a price for model {model} (add it with --prices FILE)")
        self.items: dict[tuple[str, str, str, str], LineItem] = {}
        self.stopped: dict[str, Any] | None = None
        self._lock = threading.Lock()
        # requests the gate let through and not yet recorded, per stage: [count, tokens, dollars]
        # (estimates); the gate counts them as spent, so rounds in flight at once cannot
        # each pass the cap on the same headroom
        self._held: dict[str, list[float]] = {}
        self._asked: dict[str, list[float]] = {}  # per stage: requests admitted, their chars/4 prompt tokens
        self._cond = threading.Condition(self._lock)  # notified as requests in flight are recorded
        self._admitting = threading.Lock()
        self.counting_only = False

    @classmethod
    def counting(cls) -> "Ledger":
        """The accounts of a client made without a ledger: no price, no cap, and still every
        call counted (its Usage reads them; llm/base.py)."""
        new = cls("", "", prices=PriceTable({}))
        new.counting_only = True
        return new

    def _cost(self, prompt_tokens: int, completion_tokens: int, mode: str) -> float | None:
        if self.backend == "local":
            return 0.0
        if self.price is None:
            return None
        return self.price.dollars(prompt_tokens, completion_tokens, batch=mode == "batch")

    def dollars(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float | None:
        """What these tokens cost at this ledger's price, online or (`batch`) at the Batch API's
        ($0 on the local backend; None: no price)."""
        d = self._cost(prompt_tokens, completion_tokens, "batch" if batch else "online")
        return None if d is None else round(d, 8)

    def record(self, stage: str | None, prompt_tokens: int = 0, completion_tokens: int = 0, *,
               cached: bool = False, retries: int = 0, mode: str = "online", sent: int | None = None,
               reasoning_tokens: int = 0) -> None:
        key = (stage or "other", self.model, self.endpoint, mode)
        with self._lock:
            self._release(stage or "other", 1)
            self._cond.notify_all()
            item = self.items.setdefault(key, LineItem(dollars=self._cost(0, 0, mode)))
            if cached:  # answered from the response cache: free, and said so
                item.cached += 1
                return
            item.requests += 1
            item.retries += retries
            item.sent += 1 + retries if sent is None else sent
            item.prompt_tokens += prompt_tokens
            item.completion_tokens += completion_tokens
            item.reasoning_tokens += reasoning_tokens
            cost = self._cost(prompt_tokens, completion_tokens, mode)
            item.dollars = None if cost is None or item.dollars is None else item.dollars + cost

    def _release(self, stage: str, n: int) -> None:
        held = self._held.get(stage)
        if not held or held[0] <= 0:
            return
        k = min(n, held[0])
        share = k / held[0]
        held[:] = [held[0] - k, held[1] * (1 - share), held[2] * (1 - share)]

    def fresh(self, budget: Budget | None = None) -> "Ledger":
        """An empty ledger of the same model, endpoint and price (a Ray worker's block)."""
        new = Ledger.__new__(Ledger)
        new.backend, new.model, new.endpoint, new.price = self.backend, self.model, self.endpoint, self.price
        new.budget = budget or Budget()
        new.items, new.stopped, new._held, new._asked, new._lock = {}, None, {}, {}, threading.Lock()
        new._cond, new._admitting = threading.Condition(new._lock), threading.Lock()
        new.counting_only = self.counting_only
        return new

    def headroom(self, blocks_in_flight: int, blocks_done: int) -> Budget | None:
        """Between blocks (Ray): the budget one more block may spend, when the blocks in
        flight each cost what the finished ones did on average (None: no cap; a budget of
        0: nothing left). Before a block has finished, the whole cap, one block at a time."""
        if not self.budget:
            return None
        t, b = self.totals(), self.budget
        def left(cap, spent):
            if cap is None:
                return None
            mean = spent / blocks_done if blocks_done else 0.0
            return max(0.0, cap - spent - mean * blocks_in_flight)
        cost = left(b.max_cost, t["dollars"] or 0.0)
        tokens = left(b.max_tokens, t["tokens"])
        return Budget(max_cost=cost, max_tokens=None if tokens is None else int(tokens))

    def calls(self, stage) -> int:
        """Requests recorded for `stage` so far (sent and cached)."""
        name = str(stage or "other")
        with self._lock:
            return sum(i.requests + i.cached for key, i in self.items.items() if str(key[0]) == name)

    def release(self, stage: str | None, n: int) -> None:
        """`n` requests the gate let through will never be recorded (they failed)."""
        with self._lock:
            self._release(stage or "other", n)
            self._cond.notify_all()

    def merge(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add another ledger's rows (a Ray worker's block) to this one."""
        with self._lock:
            for r in rows:
                key = (r["stage"], r.get("model") or self.model, r.get("endpoint") or self.endpoint,
                       r.get("mode") or "online")
                item = self.items.setdefault(key, LineItem(dollars=self._cost(0, 0, key[3])))
                for k in ("requests", "sent", "cached", "retries", "prompt_tokens", "completion_tokens",
                          "reasoning_tokens"):
                    setattr(item, k, getattr(item, k) + int(r.get(k) or 0))
                d = r.get("dollars")
                item.dollars = None if d is None or item.dollars is None else item.dollars + d

    def used(self) -> float | None:
        """The share of the tighter cap spent so far (None: no cap, or no price)."""
        t, b = self.totals(), self.budget
        shares = []
        if b.max_tokens is not None:
            shares.append(t["tokens"] / b.max_tokens)
        if b.max_cost is not None and t["dollars"] is not None:
            shares.append(t["dollars"] / b.max_cost)
        return max(shares) if shares else None

    # -- totals -------------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        with self._lock:
            items = list(self.items.values())
        dollars = [i.dollars for i in items]
        return {
            "requests": sum(i.requests for i in items), "sent": sum(i.sent for i in items),
            "cached": sum(i.cached for i in items),
            "retries": sum(i.retries for i in items),
            "prompt_tokens": sum(i.prompt_tokens for i in items),
            "completion_tokens": sum(i.completion_tokens for i in items),
            "reasoning_tokens": sum(i.reasoning_tokens for i in items),
            "tokens": sum(i.prompt_tokens + i.completion_tokens for i in items),
            "dollars": None if any(d is None for d in dollars) else round(sum(dollars), 8),
        }

    def stage_means(self) -> dict[str, dict[str, float]]:
        """Per stage: mean prompt and completion tokens of a sent request."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for (stage, *_), i in self.items.items():
                if i.requests:
                    out[stage] = {"prompt": i.prompt_tokens / i.requests, "completion": i.completion_tokens / i.requests}
                    asked = self._asked.get(stage)
                    # billed prompt tokens over the chars/4 estimate of the prompts admitted
                    ratio = out[stage]["prompt"] / (asked[1] / asked[0]) if asked and asked[1] else 1.0
                    out[stage]["prompt_ratio"] = min(20.0, max(0.05, ratio))
        return out

    def as_dict(self) -> dict[str, Any]:
        """The manifest's `usage.ledger`: one row per (stage, model, endpoint, mode), totals, prices."""
        with self._lock:
            rows = [{"stage": s, "model": m, "endpoint": e, "mode": mode, **i.as_dict()}
                    for (s, m, e, mode), i in self.items.items()]
        out: dict[str, Any] = {"currency": "USD", "stages": rows, "total": self.totals()}
        if self.backend == "local":
            out["price"] = "local backend: $0"
        elif self.price is None:
            out["price"] = f"unknown for model {self.model} (tokens counted, dollars not guessed)"
        else:
            p = self.price
            out["price"] = {"input_per_1m": p.input, "output_per_1m": p.output, "batch_discount": p.batch_discount,
                            "source": p.source, "as_of": p.as_of}
        if self.budget:
            out["budget"] = {"max_cost": self.budget.max_cost, "max_total_tokens": self.budget.max_tokens}
        if self.stopped:
            out["stopped"] = dict(self.stopped)
        return out

    # -- the gate -----------------------------------------------------------------------
    def gate(self, requests: Sequence, stage: str | None) -> None:
        """Raise BudgetExceeded unless every one of `requests` fits under the cap."""
        if self.admit(requests, stage, partial=False) < len(requests):
            raise BudgetExceeded(self.stopped["detail"], dict(self.stopped))

    def _fit(self, requests: Sequence, stage: str):
        """How many of `requests` fit now, what they are expected to add, and the figures."""
        means = self.stage_means().get(stage)
        b = self.budget
        t = self.totals()
        with self._lock:
            held = sum(h[0] for h in self._held.values())
            tokens = t["tokens"] + sum(h[1] for h in self._held.values())
            dollars = None if t["dollars"] is None else t["dollars"] + sum(h[2] for h in self._held.values())
        k, add_tokens, add_dollars, heur, est = 0, 0.0, 0.0, 0, 0.0
        for r in requests:
            # prompt: chars/4, scaled by what the endpoint billed this stage's prompts so far;
            # completions: this stage's mean so far, else half of each request's max_tokens
            p = heuristic_tokens(r.messages) * (means["prompt_ratio"] if means else 1.0)
            c = (means["completion"] if means else r.max_tokens / 2) * max(1, r.n)
            est = p + c
            cost = self._cost(int(p), int(c), "online") or 0.0
            if b.max_tokens is not None and tokens + add_tokens + est > b.max_tokens:
                break
            if b.max_cost is not None and dollars is not None and dollars + add_dollars + cost > b.max_cost:
                break
            k, add_tokens, add_dollars = k + 1, add_tokens + est, add_dollars + cost
            heur += heuristic_tokens(r.messages)
        return k, add_tokens, add_dollars, heur, est, t, tokens, dollars, held, means is not None

    def admit(self, requests: Sequence, stage: str | None, partial: bool = True) -> int:
        """How many of `requests` (ChatRequests, in order) may be sent: all of them, or with
        `partial` the first ones that fit under the cap, counting what was spent and what
        the requests let through before are expected to cost. The first refusal marks the
        run stopped; after it nothing more is admitted (BudgetExceeded). Requests already
        in flight are not touched: they finish and are accounted."""
        if not self.budget or not requests:
            return len(requests)
        with self._admitting:  # one admission at a time: two cannot fit in the same headroom
            return self._admit(requests, stage or "other", partial)

    def _admit(self, requests: Sequence, stage: str, partial: bool) -> int:
        waited, held_before = 0.0, None
        while True:
            if self.stopped:
                raise BudgetExceeded(self.stopped["detail"], dict(self.stopped))
            k, add_tokens, add_dollars, heur, est, t, tokens, dollars, held, known = self._fit(requests, stage)
            if k == len(requests) or not held or not partial:
                break
            # requests in flight are counted at their estimate: wait for them to land (they
            # often cost less) before refusing anything; give up after a minute without one
            with self._cond:
                self._cond.wait(0.5)
            waited = 0.0 if held != held_before else waited + 0.5
            held_before = held
            if waited >= 60:
                break
        b = self.budget
        if k < len(requests) and not (partial and k and not known):
            # (a first wave of a stage whose reply length is unknown goes out alone: its
            # replies say what the rest will cost before anything is refused)
            if b.max_tokens is not None and tokens + add_tokens + est > b.max_tokens:  # est: the first refused
                why = (f"token budget: {t['tokens']} spent + ~{int(tokens - t['tokens'])} in flight; "
                       f"{len(requests) - k} of {len(requests)} {stage} requests would pass --max-total-tokens "
                       f"{b.max_tokens}")
            else:
                why = (f"cost budget: ${t['dollars']:.4f} spent + ~${dollars - t['dollars']:.4f} in flight; "
                       f"{len(requests) - k} of {len(requests)} {stage} requests would pass --max-cost {b.max_cost}")
            figures = {"reason": "budget", "detail": why, "spent": t, "max_cost": b.max_cost,
                       "max_total_tokens": b.max_tokens}
            with self._lock:
                self.stopped = self.stopped or figures
            if not partial or k == 0:
                raise BudgetExceeded(why, figures)
        with self._lock:
            held = self._held.setdefault(stage, [0, 0.0, 0.0])
            held[0] += k
            held[1] += add_tokens
            held[2] += add_dollars
            asked = self._asked.setdefault(stage, [0, 0])
            asked[0] += k
            asked[1] += heur
        return k


# the ledger's views (manifest rows without a client, summary lines, the --dry-run table)
from .ledger_views import format_estimate, format_ledger, no_calls_ledger, usage_of  # noqa: E402,F401
