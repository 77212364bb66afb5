"""What goes over the wire for the openai backend: the transport, response checks and
parsing of chat.completion bodies (text, usage, fixed-choice answers and their logprobs)."""

from __future__ import annotations

import asyncio
import functools
import math

from .base import Choice, Completion, match_option


def _http_client():
    """The SDK's aiohttp transport when the `openai[aiohttp]` extra is installed (much
    less CPU per request than httpx at high concurrency); None means the SDK default."""
    try:
        from openai import DefaultAioHttpClient
    except ImportError:
        return None
    try:
        return DefaultAioHttpClient()
    except (ImportError, RuntimeError):
        return None


@functools.cache
def _response_class():
    """`cast_to` that makes the SDK's post() return the HTTP response itself, read, so the
    headers of a 200 (x-ratelimit-*) reach the limiter; the body is parsed by `_json`."""
    import httpx  # the SDK accepts httpx.Response (also where its transport is httpx2)

    return httpx.Response


def _json(resp):
    try:
        return resp.json()
    except ValueError:  # not JSON: _check_response says so, and it is retried
        return resp.text


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
    ch = data["choices"][0]
    raw = _content(ch)
    scores = _first_token_scores(ch, options)
    option = match_option(raw, options)
    if option is None and scores:
        option = max(scores, key=scores.get)
    pt, ct = _usage(data)
    return Choice(option=option, scores=scores, raw=raw), Completion(raw, prompt_tokens=pt, completion_tokens=ct)


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
        self.sent = self.retries = self.prompt_tokens = self.completion_tokens = 0

    def take(self, data: dict, retries: int, want: int) -> None:
        self.sent += 1
        self.retries += retries
        pt, ct = _usage(data)
        self.prompt_tokens += pt
        self.completion_tokens += ct
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
