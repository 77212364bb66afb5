"""What every generator is: a name, a config, and `generate()` yielding outcomes.

A generator builds prompts and parses replies with pure functions (in its own module),
calls the injected ChatClient, and passes every candidate through the FilterChain it is
given. It yields an Outcome per candidate — kept or dropped with a reason — and the
runner writes them out. It never writes files itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

from ..filters.base import FilterChain, Verdict
from ..llm.base import ChatClient
from ..records import Record


@dataclass
class Outcome:
    record: Record
    verdict: Verdict
    stage: str = "instruction"  # which step decided: instruction, instance, answer, ...


@dataclass
class GenerationReport:
    """What a generator says about its run beyond the records: why it stopped, notes
    (e.g. why no classification task survived), and per-stage counts."""

    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    prompt_templates: dict[str, str] = field(default_factory=dict)  # ref -> sha
    inputs: list[str] = field(default_factory=list)  # input files (hashed into manifests)


class Generator(Protocol):
    name: str
    report: GenerationReport

    def generate(self, client: ChatClient, chain: FilterChain, num: int) -> Iterator[Outcome]:
        """Yield outcomes until `num` records are kept or the generator has to stop
        (then say why in report.stop_reason)."""


def run_language(gen, requested: str | None = "auto") -> str:
    """The one language of a run, so prompts and the filter chain agree.

    `requested` (a flag) wins; then the generator config's; then the generator's own
    (Self-Instruct detects it from its seeds); then its inputs' dominant language. A generator whose config says
    "auto" is pinned to the result: otherwise, in a mixed folder, prompts written in each
    chunk's own language would be dropped by the chain as `wrong_lang`."""
    cfg = getattr(gen, "config", None)
    candidates = (requested, getattr(cfg, "lang", None), getattr(gen, "lang", None))
    lang = next((c for c in candidates if c in ("en", "zh")), None)
    if lang is None:
        dominant = getattr(gen, "dominant_lang", None)
        lang = dominant() if callable(dominant) else "en"
    if getattr(cfg, "lang", None) == "auto":
        cfg.lang = lang
    return lang
