"""Filters: rules, exact fast ROUGE-L dedup, embedding dedup — composed into a FilterChain.

The chain is built here and nowhere else. `build_chain(cfg, lang, parent=, gate=)` is
the instruction-level chain every generator, `datagen filter` and a dataset refresh use
(cheap rules first, then ROUGE-L, then embeddings, so the model only sees survivors);
`build_instance_chain(cfg, lang, gate=)` checks input/output instances. `parent`: the
records of the version a refresh starts from (deduplicated against, exactly and in the
pools); `gate`: a model-backed check (a judge's ScoreGate), last, asked only about
what the rules before it kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..errors import ConfigError
from ..records import Record
from ..text import LANGS
from .base import Filter, FilterChain, Verdict, funnel
from .reasoning import AnswerMissing, ReasoningTruncated
from .rules import (ZH_BLACKLIST, AsciiStart, Blacklist, EmptyOutput, EndsWithColon, ExactDuplicate,
                    InputEqualsInstruction, InputEqualsOutput, LangConsistency, MaxLength, MinLength,
                    PromptScaffolding, PunctStart, TrailingComma, WriteProgram, conflicting_instances)

DEFAULT_BLACKLIST = ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
                     "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram"]

__all__ = ["FilterConfig", "build_chain", "build_instance_chain", "build_answer_chain", "FilterChain", "Filter", "Verdict", "funnel",
           "conflicting_instances", "DEFAULT_BLACKLIST"]


@dataclass
class FilterConfig:
    """Instruction filters (YAML `filters:` section; flags --rouge/--embed override).

    rouge / embed: drop when the score is *greater* than this (None disables), as
    Self-Instruct does with ROUGE-L > 0.7. Lengths are words, or characters for Chinese:
    an instruction needs more than `min_len` and at most `max_len`."""

    rouge: float | None = field(default=0.7, metadata={
        "help": "Drop when ROUGE-L with a kept or pool instruction is above this.", "min": 0, "max": 1,
        "off_flag": "--no-rouge"})
    embed: float | None = field(default=0.95, metadata={
        "help": "Drop when embedding cosine with a kept or pool instruction is above this.", "min": 0, "max": 1,
        "off_flag": "--no-embed"})
    embed_model: str | None = field(default=None, metadata={
        "help": "Local sentence-transformers folder [default: embedded MiniLM]."})
    faiss_above: int = field(default=100_000, metadata={
        "help": "Search kept embeddings with a faiss IVF index once there are more than this many "
                "(exact below; needs the faiss extra).", "min": 0})
    min_len: int = field(default=3, metadata={
        "help": "Drop instructions of at most this many words (characters for Chinese).", "min": 0})
    max_len: int = field(default=150, metadata={
        "help": "Drop instructions of more than this many words (characters for Chinese).", "min": 0})
    blacklist: list[str] = field(default_factory=lambda: list(DEFAULT_BLACKLIST), metadata={
        "help": "Drop instructions containing one of these words.", "cli": False})
    punct_start: bool = field(default=True, metadata={"help": "Drop instructions starting with punctuation.",
                                                      "cli": False})
    ascii_start: bool = field(default=False, metadata={"help": "Drop English instructions not starting with a "
                                                       "letter or digit.", "cli": False})
    write_program: bool = field(default=True, metadata={"help": "Drop 'write a program' tasks.", "cli": False})
    lang_consistency: bool = field(default=True, metadata={
        "help": "Drop records with a field (instruction, input, output, any turn) not in the run's language.",
        "cli": False})
    scaffolding: bool = field(default=True, metadata={
        "help": "Drop records whose text repeats a label of our own prompts ('Input:', 'User:', '输入：'), "
                "an instruction ending on a comma, or an input repeating its instruction.", "cli": False})
    decontaminate: list[str] = field(default_factory=list, metadata={
        "help": "Benchmark files (JSONL or text, one item a line): drop records sharing a 13-gram "
                "(13 characters for Chinese) with any item, reason `contaminated`.", "path": "file"})
    decontaminate_embed: float | None = field(default=None, metadata={
        "help": "Also drop instructions whose embedding cosine with a benchmark item exceeds this.",
        "min": 0, "max": 1})

    def __post_init__(self):
        for name in ("rouge", "embed"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1):
                raise ConfigError(f"filters.{name} must be a number between 0 and 1 (or null to disable), got {v!r}")
        for name in ("min_len", "max_len"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"filters.{name} must be a non-negative integer, got {v!r}")
        if self.max_len <= self.min_len:
            raise ConfigError(f"filters.max_len ({self.max_len}) must be greater than min_len ({self.min_len})")
        if isinstance(self.blacklist, str) or not all(isinstance(w, str) for w in self.blacklist or []):
            raise ConfigError("filters.blacklist must be a list of words")
        self.blacklist = list(self.blacklist or [])
        if isinstance(self.decontaminate, str) or not all(isinstance(p, str) for p in self.decontaminate or []):
            raise ConfigError("filters.decontaminate must be a list of benchmark file paths")
        self.decontaminate = list(self.decontaminate or [])


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"filter language must be one of {', '.join(LANGS)}, got {lang!r}")


def build_chain(cfg: FilterConfig | None = None, lang: str = "en", parent: Sequence[Record] | None = None,
                gate: Filter | None = None) -> FilterChain:
    """Instruction-level chain: rules, then exact ROUGE-L dedup, then embedding dedup, then
    `gate`. With `parent` (a refresh's parent version; [] for a dataset's first), an exact
    ParentDuplicate comes first and the parent's records fill every pool."""
    from .rouge import RougeDedup

    cfg = cfg or FilterConfig()
    _check_lang(lang)
    # a reasoning model's trace: inert on records without one (filters/reasoning.py)
    filters: list = [ReasoningTruncated(), AnswerMissing(), MinLength(cfg.min_len), MaxLength(cfg.max_len)]
    words = list(cfg.blacklist)
    if lang == "zh" and words == DEFAULT_BLACKLIST:
        words += ZH_BLACKLIST
    if words:
        filters.append(Blacklist(words))
    if cfg.write_program:
        filters.append(WriteProgram())
    if cfg.punct_start:
        filters.append(PunctStart())
    if cfg.ascii_start and lang == "en":
        filters.append(AsciiStart())
    if cfg.lang_consistency:
        filters.append(LangConsistency(lang))
    if cfg.scaffolding:
        filters += [TrailingComma(), InputEqualsInstruction(), PromptScaffolding()]
    if cfg.decontaminate:
        from .decontam import Decontaminate

        filters.append(Decontaminate(cfg.decontaminate, embed=cfg.decontaminate_embed, embed_model=cfg.embed_model))
    if cfg.rouge is not None:
        filters.append(RougeDedup(cfg.rouge))
    # The embedded MiniLM is English-only: on Chinese, unrelated pairs pass 0.95 often
    # enough (~2 in 10,000 pairs of HuaTuo instructions) to drop most candidates of a
    # large run, so Chinese runs use embeddings only with a model the user names.
    if cfg.embed is not None and (lang == "en" or cfg.embed_model):
        from .embedding import EmbeddingDedup

        filters.append(EmbeddingDedup(cfg.embed, cfg.embed_model, faiss_above=cfg.faiss_above))
    return _finish(filters, parent, gate)


def _finish(filters: list, parent: Sequence[Record] | None, gate: Filter | None) -> FilterChain:
    """The chain of `filters`, the gate last; a parent's duplicates first, its records pooled."""
    if gate is not None:
        filters.append(gate)
    if parent is None:
        return FilterChain(filters)
    from .parent import ParentDuplicate

    chain = FilterChain([ParentDuplicate(parent), *filters])
    if parent:
        chain.add_many(parent)
    return chain


def build_instance_chain(cfg: FilterConfig | None = None, lang: str = "en", gate: Filter | None = None) -> FilterChain:
    """Instance-level chain (input/output of one instruction): empty output, input ==
    output, trailing colon, refusals ("As an AI language model…"), the run's language and
    the prompts' scaffolding in every field, exact duplicates. Use `conflicting_instances`
    per task too."""
    from .refusal import Refusal

    cfg = cfg or FilterConfig()
    _check_lang(lang)
    filters: list = [ReasoningTruncated(), AnswerMissing(), EmptyOutput(), InputEqualsOutput(), EndsWithColon(),
                     Refusal()]
    if cfg.lang_consistency:
        filters.append(LangConsistency(lang))
    if cfg.scaffolding:
        filters += [InputEqualsInstruction(), PromptScaffolding()]
    return _finish(filters + [ExactDuplicate()], None, gate)


def build_answer_chain(cfg: FilterConfig | None = None, lang: str = "en") -> FilterChain:
    """The checks of a generator's answers written after its instruction passed the chain
    (Evol-Instruct, Magpie): every field in the run's language, none of the prompts'
    scaffolding."""
    cfg = cfg or FilterConfig()
    _check_lang(lang)
    return FilterChain(([LangConsistency(lang)] if cfg.lang_consistency else [])
                       + ([PromptScaffolding()] if cfg.scaffolding else []))
