"""Magpie (Xu et al. 2024): instructions from nothing but an aligned model's chat template.

Each round sends `batch` raw completions of the pre-query template (the chat template cut
at the start of a user turn, see template.py); each continuation up to the end-of-turn
token is an instruction. The instructions pass the injected filter chain (rules, the
language rule, ROUGE/embedding dedup), and the survivors are answered with an ordinary
`chat_many`. With `turns` > 1 the conversation so far is rendered and cut again, so the
model writes the follow-up query, and that is answered too.

The template comes from the model's tokenizer: the local backend's own, or `--tokenizer
PATH` for a server; otherwise `--pre-query-template` (ChatML's user header by default).
A system prompt steers the domain (`--system`) and the language: by default the run
language's prompts/<lang>/magpie_system.txt, so a Chinese run asks in Chinese.

Raw completion is an optional capability of a client (`complete_many`, declared by
`supports_raw_completion`): the local
backend has it, the openai backend against /v1/completions (vLLM, llama.cpp, TGI).
Chat-only APIs such as OpenAI's cannot run Magpie and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...errors import ConfigError
from ...filters.base import FilterChain, Verdict
from ...filters.reasoning import trace_reason
from ...llm import stages
from ...llm.base import ChatClient, ChatRequest, CompletionRequest
from ...llm.ledger import BudgetExceeded
from ...llm.reasoning import trace_meta
from ...prompts import load_prompt
from ...records import Record
from ..base import Generator, GeneratorConfig, Outcome, surplus
from .template import (CHATML_USER, fixed_renderer, parse_instruction, pre_query, stops_for,
                       tokenizer_renderer)

NAME = "magpie"
FILTER = "magpie"


@dataclass
class MagpieConfig(GeneratorConfig):
    """Magpie settings (YAML `generator:` section; flags override)."""

    system: str | None = field(default="auto", metadata={
        "help": "System prompt steering the domain, e.g. \"You are a medical assistant.\" (auto: "
                "prompts/<lang>/magpie_system.txt).", "off_flag": "--no-system"})
    turns: int = field(default=1, metadata={"help": "User turns per conversation.", "min": 1})
    tokenizer: str | None = field(default=None, metadata={
        "help": "Local tokenizer folder of the served model, for its chat template (openai backend).",
        "path": "dir"})
    pre_query_template: str = field(default=CHATML_USER, metadata={
        "help": "Pre-query template when no tokenizer is at hand (openai backend)."})
    batch: int = field(default=8, metadata={"help": "Queries sampled per round.", "min": 1})
    max_rounds: int | None = field(default=None, metadata={
        "help": "Stop after this many rounds [default: enough for --num with room for drops].", "min": 1})
    patience: int = field(default=5, metadata={"help": "Stop after this many rounds in a row that keep nothing.",
                                               "min": 1})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature for queries.", "min": 0})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling for queries.", "min": 0, "max": 1})
    max_tokens: int = field(default=128, metadata={"help": "Max tokens per query.", "min": 1})
    answer_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature for answers.",
                                                             "min": 0})
    answer_max_tokens: int = field(default=512, metadata={"help": "Max tokens per answer.", "min": 1})

    def __post_init__(self):
        super().__post_init__()
        if self.tokenizer and not Path(self.tokenizer).is_dir():
            raise ConfigError(f"magpie: tokenizer folder not found: {self.tokenizer}")
        if not self.pre_query_template:
            raise ConfigError("magpie: pre_query_template must not be empty")


class MagpieGenerator(Generator):
    name = NAME
    config_cls = MagpieConfig
    summary = "Instructions sampled from an aligned model's chat template, then answered (Magpie)."
    required = ()

    def __init__(self, config: MagpieConfig):
        super().__init__(config)
        self._tok = None
        if config.tokenizer:  # a bad folder fails here, before any call
            from transformers import AutoTokenizer

            try:
                self._tok = AutoTokenizer.from_pretrained(config.tokenizer, local_files_only=True)
            except (OSError, ValueError) as e:
                raise ConfigError(f"magpie: cannot load a tokenizer from {config.tokenizer}: "
                                  f"{str(e).splitlines()[0][:160]}") from None
            tokenizer_renderer(self._tok)  # no chat template: fail now

    def dominant_lang(self) -> str:
        from ...text import detect_lang

        system = self.config.system
        return detect_lang(system) if system and system != "auto" else "en"

    def system_prompt(self) -> str | None:
        system = self.config.system
        if system == "auto":
            p = load_prompt("magpie_system", self.lang)
            self.report.prompt_templates[p.ref] = p.sha
            return p.text
        return system or None

    def _template(self, client: ChatClient):
        """(renderer, where the template came from, eos token or None)."""
        if self._tok is not None:
            return tokenizer_renderer(self._tok), f"tokenizer {self.config.tokenizer}", self._tok.eos_token
        tok = client.tokenizer()
        if tok is not None:  # None: an API, or a --dry-run's recording client: the fixed template
            return tokenizer_renderer(tok), f"tokenizer of {client.model}", tok.eos_token
        return fixed_renderer(self.config.pre_query_template), "--pre-query-template", None

    # -- the loop ---------------------------------------------------------------------
    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        cfg = self.config
        if not client.supports_raw_completion:
            raise ConfigError(f"magpie needs raw completions, which the {client.backend} backend cannot do")
        render, source, eos = self._template(client)
        system = self.system_prompt()
        first = pre_query(render, system)
        if cfg.turns > 1:
            pre_query(render, system, [("hi", "hello")])  # a template that cannot go on fails now
        try:
            stops = stops_for(render(_probe(system)), eos)
        except ConfigError:  # a fixed first-turn template: its own markers
            stops = stops_for(first, eos)
        base = {"generator": NAME, "lang": self.lang, "model": client.model, "system": system,
                "pre_query_template": first, "template_source": source}
        max_rounds = cfg.max_rounds or max(10, 4 * math.ceil(num / cfg.batch))
        kept = stale = rnd = 0
        while kept < num and rnd < max_rounds and stale < cfg.patience:
            rnd += 1
            self.report.count("rounds")
            round_kept = 0
            for outcome in self._round(client, chain, rnd, render, system, first, stops, base):
                if outcome.verdict.kept:
                    if kept >= num:  # paid for, not needed
                        self.report.count("surplus")
                        yield surplus(outcome.record, outcome.stage, "made after --num was reached")
                        continue
                    kept += 1
                    round_kept += 1
                yield outcome
            stale = 0 if round_kept else stale + 1
        self.report.counts["kept"] = kept
        if kept >= num:
            self.report.stop_reason = f"kept {kept} conversations (--num {num}) after {rnd} rounds"
        elif stale >= cfg.patience:
            self.report.stop_reason = f"nothing kept in {stale} rounds in a row (patience {cfg.patience}); kept {kept}"
        else:
            self.report.stop_reason = f"round limit {max_rounds} reached; kept {kept} of {num}"

    def _queries(self, client: ChatClient, prompts: list[str], stops, tag, desc: stages.Stage) -> list:
        cfg = self.config
        reqs = [CompletionRequest(p, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                                  stop=tuple(stops), seed=self.request_seed(*tag, i)) for i, p in enumerate(prompts)]
        self.report.count("query_requests", len(reqs))
        return [c[0] for c in client.complete_many(reqs, desc=desc)]

    def _answers(self, client: ChatClient, convs: list[list[dict]], rnd: int) -> list:
        """The answer completions (the client keeps a reasoning model's trace apart)."""
        cfg = self.config
        reqs = [ChatRequest.make(m, temperature=cfg.answer_temperature, max_tokens=cfg.answer_max_tokens,
                                 seed=self.request_seed("answer", [x["content"] for x in m])) for m in convs]
        return [c[0] for c in client.chat_many(reqs, desc=stages.ANSWERS.at_round(rnd))] if reqs else []

    def _round(self, client, chain, rnd, render, system, first, stops, base) -> Iterator[Outcome]:
        cfg = self.config
        comps = self._queries(client, [first] * cfg.batch, stops, ("round", rnd), stages.QUERIES.at_round(rnd))
        cands: list[Record] = []
        for comp in comps:
            query = parse_instruction(comp.text)
            rec = Record(instruction=query, meta=dict(base))
            if not query:
                yield Outcome(rec, Verdict(False, "empty_instruction", FILTER, {"raw": comp.text[:200]}), "query")
            elif comp.finish_reason == "length" and query == comp.text.strip():
                yield Outcome(rec, Verdict(False, "truncated_instruction", FILTER), "query")
            else:
                cands.append(rec)
        live: list[tuple[Record, list[tuple[str, str]]]] = []
        for rec, v in zip(cands, chain.check_many(cands, describe=True)):
            if v.kept:
                rec.meta.update({k: v.detail[k] for k in ("most_similar", "rouge_l") if k in v.detail})
                live.append((rec, []))
            else:
                yield Outcome(rec, v, "instruction")
        done: list[tuple[Record, list[tuple[str, str]]]] = []
        try:
            yield from self._turns(client, rnd, render, system, stops, live, done)
        except BudgetExceeded:  # the cap stopped the round: its paid queries are surplus lines
            for rec in {id(r): r for r, _ in done + live}.values():
                yield surplus(rec, "answer", "the cap stopped its round")
            raise
        from ...filters import build_answer_chain

        answers = build_answer_chain(lang=self.lang)  # the answers' language and scaffolding
        for rec, hist in done + live:
            record = self._record(rec, hist)
            v = answers.check(record, keep=False)
            yield Outcome(record, v if not v.kept else Verdict(True), "answer")

    def _turns(self, client, rnd, render, system, stops, live, done) -> Iterator[Outcome]:
        """The round's conversations, turn by turn (`live` and `done` are updated in place)."""
        cfg = self.config
        for turn in range(1, cfg.turns + 1):
            if not live:
                break
            if turn == 1:
                queries = [rec.instruction for rec, _ in live]
            else:  # the model writes the follow-up query after the conversation so far
                prompts = [pre_query(render, system, hist) for _, hist in live]
                follow = self._queries(client, prompts, stops, ("turn", f"{turn} round {rnd}"),
                                       stages.FOLLOWUP_QUERIES.at_round(rnd))
                queries = [parse_instruction(c.text) if c.finish_reason != "length" else "" for c in follow]
                self.report.count("followups_failed", sum(not q for q in queries))
            asking = [(rec, hist, q) for (rec, hist), q in zip(live, queries) if q]
            done += [(rec, hist) for (rec, hist), q in zip(live, queries) if not q]  # ends where it was
            answers = self._answers(client, [_messages(system, hist + [(q, "")])[:-1] for _, hist, q in asking], rnd)
            live.clear()
            for (rec, hist, q), comp in zip(asking, answers):
                answer = comp.text.strip()
                if turn == 1:  # the first answer's trace is the record's (docs/reasoning.md)
                    rec.meta.update(trace_meta(comp))
                    seen = Record(instruction=q, output=answer, meta=rec.meta)
                    if why := trace_reason(seen):
                        yield Outcome(seen, Verdict(False, why, why), "answer")
                        continue
                if answer:
                    live.append((rec, hist + [(q, answer)]))
                elif turn == 1:
                    yield Outcome(rec, Verdict(False, "empty_answer", FILTER), "answer")
                else:
                    done.append((rec, hist))

    def _record(self, rec: Record, hist: list[tuple[str, str]]) -> Record:
        """The conversation as a record; the system prompt the answers were written under is
        its first turn, so every export carries it (sharegpt `system`, alpaca `system`)."""
        meta = dict(rec.meta, turns=len(hist))
        system = meta.get("system")
        if len(hist) == 1 and not system:
            return Record(instruction=hist[0][0], output=hist[0][1], meta=meta)
        # the flat fields are the first exchange (records.py), `messages` the whole conversation
        return Record(instruction=hist[0][0], output=hist[0][1], messages=_messages(system, hist), meta=meta)


def _messages(system: str | None, hist: list[tuple[str, str]]) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    for user, assistant in hist:
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return msgs


def _probe(system: str | None) -> list[dict]:
    """A whole exchange, to see which end-of-turn markers the template uses."""
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
