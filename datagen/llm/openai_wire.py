"""What goes over the wire for the openai backend: response checks and parsing of
chat.completion bodies (text, usage, fixed-choice answers and their logprobs)."""

from __future__ import annotations

import asyncio
import math

from .base import Choice, Completion, match_option


def _check_response(data) -> None:
    """A 200 whose body is not a chat completion (a proxy's HTML page, an error object,
    no choices) raises ValueError, which is retried like a 5xx."""
    if not isinstance(data, dict):
        raise ValueError(f"response is not a JSON object: {str(data)[:80]!r}")
    if data.get("error"):
        err = data["error"]
        raise ValueError(f"error in response: {err.get('message', err) if isinstance(err, dict) else err}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise ValueError("response has no choices")


def _content(choice: dict) -> str:
    msg = choice.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    return content if isinstance(content, str) else ""


def _reasoning(choice: dict) -> str:
    """The trace a server returned apart from the content: `reasoning_content` (vLLM's
    reasoning parsers, DeepSeek), or `reasoning` (OpenRouter, newer vLLM)."""
    msg = choice.get("message")
    if not isinstance(msg, dict):
        return ""
    for key in ("reasoning_content", "reasoning"):
        if isinstance(msg.get(key), str) and msg[key].strip():
            return msg[key]
    return ""


def reasoning_tokens(data: dict) -> int:
    """usage.completion_tokens_details.reasoning_tokens, where the server counts them."""
    usage = data.get("usage")
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    n = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return int(n) if isinstance(n, (int, float)) else 0


def completion_of(choice: dict, prefill: str = "") -> Completion:
    """One choice as a Completion: the answer in `text`, the trace (a reasoning field or a
    leading <think> block, llm/reasoning.py) in `reasoning`."""
    from .reasoning import split_reasoning

    finish = choice.get("finish_reason") or "stop"
    text, trace, closed = split_reasoning(_content(choice), _reasoning(choice))
    if trace and closed and not text and finish == "length":
        closed = False  # a separate trace cut off by max_tokens before any answer
    if prefill and not text.startswith(prefill.strip()):
        text = prefill + text
    return Completion(text=text, finish_reason=finish, reasoning=trace, reasoning_closed=closed)


def _usage(data: dict) -> tuple[int, int]:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


async def _gather_or_cancel(coros) -> list:
    """Run coroutines together; the first failure (a fatal HTTP error, Ctrl-C) cancels the
    rest, so a run stops at once instead of finishing every request in flight."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def choice_from(data: dict, options) -> tuple[Choice, Completion]:
    """The Choice in a chat.completion body (the matched option, else the best-scored first
    token), and a Completion carrying its usage for the ledger."""
    from .reasoning import split_reasoning

    ch = data["choices"][0]
    raw = split_reasoning(_content(ch), _reasoning(ch))[0]  # a reasoning model thinks before it picks
    scores = _first_token_scores(ch, options)
    option = match_option(raw, options)
    if option is None and scores:
        option = max(scores, key=scores.get)
    pt, ct = _usage(data)
    return Choice(option=option, scores=scores, raw=raw), Completion(raw, prompt_tokens=pt, completion_tokens=ct,
                                                                     reasoning_tokens=reasoning_tokens(data))


def _first_token_scores(choice: dict, options) -> dict[str, float]:
    """Log-probability per option from the first token's top_logprobs, where offered."""
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not content or not isinstance(content[0], dict):
        return {}
    scores: dict[str, float] = {}
    for top in content[0].get("top_logprobs") or []:
        tok = str(top.get("token") or "").strip().lower()
        logprob = top.get("logprob")
        if not tok or not isinstance(logprob, (int, float)):
            continue
        for opt in options:
            if opt.lower().startswith(tok) and logprob > scores.get(opt, -math.inf):
                scores[opt] = float(logprob)
    return scores


def sampling_body(req, **fields) -> dict:
    """A request body: `fields` plus the request's sampling settings (stop, seed where set)."""
    body = dict(fields, temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_tokens)
    if req.stop:
        body["stop"] = list(req.stop)
    if req.seed is not None:
        body["seed"] = req.seed
    return body


class Sampled:
    """What asking for n choices cost: the choices, HTTP requests sent, retries, tokens."""

    def __init__(self):
        self.choices: list[dict] = []
        self.sent = self.retries = self.prompt_tokens = self.completion_tokens = self.reasoning_tokens = 0

    def take(self, data: dict, retries: int, want: int) -> None:
        self.sent += 1
        self.retries += retries
        pt, ct = _usage(data)
        self.prompt_tokens += pt
        self.completion_tokens += ct
        self.reasoning_tokens += reasoning_tokens(data)
        self.choices.extend(data["choices"][:want])


async def sample_n(call, body: dict, n: int, ignores_n: bool) -> tuple[Sampled, bool]:
    """`n` choices for `body` through `call(body) -> (data, retries)`; returns them and
    whether the server ignores `n`.

    A server that honours n (OpenAI, vLLM) gets one request. One that answers a single
    choice (llama.cpp, Ollama) is asked for the rest side by side, not one after another,
    and once known it gets n requests of n=1 at once. Each extra request carries its own
    seed (seed + i): a seeded server would otherwise return the same completion n times."""
    out = Sampled()

    def single(i: int) -> dict:
        b = dict(body, n=1)
        if b.get("seed") is not None and i:
            b["seed"] = (b["seed"] + i) % (2**31)
        return b

    if n > 1 and ignores_n:
        batch = [single(i) for i in range(n)]
    else:
        data, r = await call(dict(body, n=n))
        out.take(data, r, n)
        if len(out.choices) >= n or not out.choices:
            return out, ignores_n
        ignores_n = True
        batch = [single(i) for i in range(len(out.choices), n)]
    for data, r in await _gather_or_cancel([call(b) for b in batch]):
        out.take(data, r, 1)
    return out, ignores_n
