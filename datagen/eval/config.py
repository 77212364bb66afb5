"""EvalConfig: what `datagen eval` (and a pipeline's `eval:` stage) compares, and how.

Options are declared once here; the CLI flags and the YAML keys come from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..text import LANG_CHOICES

OVERLAP_ACTIONS = ("refuse", "drop")
PROMOTE = (None, "better")
METRICS = ("rouge_l", "exact_match", "ref_loss", "judge_win")


@dataclass
class EvalConfig:
    adapters: list[str] = field(default_factory=list, metadata={
        "flag": "--adapter", "help": "Adapter folders written by `datagen train` (repeat the flag for several).", "str_ok": True})
    base_model: str | None = field(default=None, metadata={
        "help": "Local model folder, .gguf file or 'embedded' [default: the first adapter's base]."})
    eval: str | None = field(default=None, metadata={
        "help": "Eval set: instruction/input/output JSONL or any seed format datagen reads. "
                "Default: the held-out seeds recorded in the training version's manifest."})
    store: str | None = field(default=None, metadata={
        "help": "Dataset store root [default: the one the adapter was trained from]."})
    out: str | None = field(default=None, metadata={
        "help": "Folder for eval_report.json and eval.png [default: the first adapter's folder]."})
    overlap: str = field(default="refuse", metadata={
        "help": "An eval item whose instruction+input overlaps the training data: refuse or drop.",
        "choices": OVERLAP_ACTIONS})
    ngram: int = field(default=13, metadata={"help": "n-gram size of the overlap check (tokens).", "min": 1})
    max_items: int | None = field(default=None, metadata={"help": "Evaluate only the first N items.", "min": 1})
    batch_size: int = field(default=8, metadata={"help": "Prompts generated at once (left padded).", "min": 1})
    max_new_tokens: int = field(default=128, metadata={"help": "Tokens generated per answer (greedy).",
                                                       "min": 1})
    system: str | None = field(default=None, metadata={
        "help": "System message [default: the one the adapter was trained with]."})
    precision: str = field(default="auto", metadata={
        "help": "auto: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU.",
        "choices": ("auto", "bf16", "fp16", "fp32")})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads.", "min": 1})
    judge_base_url: str | None = field(default=None, metadata={
        "help": "OpenAI-compatible endpoint of an LLM judge for pairwise adapter-vs-base wins."})
    judge_model: str | None = field(default=None, metadata={"help": "The judge's model name."})
    judge_concurrency: int = field(default=8, metadata={"help": "Judge requests in flight at once.", "min": 1})
    lang: str = field(default="auto", metadata={
        "help": "Judge prompt language: en, zh or auto (from the eval set).", "choices": LANG_CHOICES})
    seed: int = field(default=0, metadata={"help": "Recorded in the report (generation is greedy)."})
    promote_if: str | None = field(default=None, metadata={
        "help": "Pipelines: 'better' moves the dataset's `good` tag to this version when its adapter "
                "beats the last evaluated version.", "choices": ("better",)})
    promote_metric: str = field(default="rouge_l", metadata={
        "help": "Metric promote_if compares: rouge_l, exact_match, ref_loss (lower wins) or judge_win.",
        "choices": METRICS})

    def __post_init__(self):
        from ..config import validate

        if isinstance(self.adapters, str):
            self.adapters = [self.adapters]
        self.adapters = [str(a) for a in (self.adapters or [])]
        if self.overlap not in OVERLAP_ACTIONS:
            raise ConfigError(f"eval: overlap must be refuse or drop, got {self.overlap!r}")
        if self.promote_if not in PROMOTE:
            raise ConfigError(f"eval: promote_if must be 'better' (or unset), got {self.promote_if!r}")
        if self.promote_metric not in METRICS:
            raise ConfigError(f"eval: promote_metric must be one of {', '.join(METRICS)}")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ConfigError(f"eval: precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        validate(self)  # the min/choices in the metadata above
        if bool(self.judge_base_url) != bool(self.judge_model):
            raise ConfigError("eval: a judge needs both judge_base_url and judge_model")
