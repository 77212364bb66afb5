"""Quality: score every record, select the best within a budget.

Scorers take records in batches and return one score dict per record; `apply_scores`
writes it to `meta.scores.<name>` as {value, reason/rationale where there is one, model,
…}. A scorer that cannot score a record says so ({value: None, error: …}); it never
fills in a default.

    judge       LLM-as-judge through the injected ChatClient (AlpaGasus 1–5 scale)
    ifd         Instruction-Following Difficulty from a local LM (Li et al. 2023)
    perplexity  perplexity of the output under the same local LM
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from ..errors import ConfigError
from ..records import Record

# scorer -> True when a higher value is better
SCORERS = {"judge": True, "ifd": True, "perplexity": False}


class Scorer(Protocol):
    name: str

    def score_many(self, records: Sequence[Record]) -> list[dict]: ...


@dataclass
class ScoreConfig:
    """YAML `score:` section and `datagen score` flags."""

    scorer: str = field(default="judge", metadata={
        "help": "judge: an LLM rates 1-5; ifd: instruction-following difficulty; perplexity: of the output.",
        "choices": tuple(SCORERS)})
    aspects: bool = field(default=False, metadata={
        "help": "Judge: rate instruction, input and output separately (value = the lowest)."})
    lang: str = field(default="auto", metadata={"help": "Judge rubric language (auto: from the instructions).",
                                                "choices": ("auto", "en", "zh")})
    lm_model: str | None = field(default=None, metadata={
        "help": "ifd/perplexity: a local HF causal-LM folder (default: the embedded SmolLM2)."})
    batch_size: int = field(default=8, metadata={"help": "ifd/perplexity: sequences per forward pass.", "min": 1})
    judge_llm: dict | None = field(default=None, metadata={
        "help": "Judge model (an llm: mapping); default: the pipeline's llm.", "cli": False})

    def __post_init__(self):
        from ..config import validate

        validate(self)


def make_scorer(cfg: ScoreConfig, records: Sequence[Record] = (), client=None) -> Scorer:
    """The scorer `cfg` names; the judge needs `client` (the judge's ChatClient)."""
    if cfg.scorer == "judge":
        from ..text import detect_lang
        from .judge import JudgeScorer

        if client is None:
            raise ConfigError("the judge scorer needs an LLM client")
        lang = cfg.lang if cfg.lang != "auto" else detect_lang([r.instruction for r in records[:1000]] or [""])
        return JudgeScorer(client, lang=lang, aspects=cfg.aspects)
    from .lm import IFDScorer, LMScorer, PerplexityScorer

    lm = LMScorer(model_path=cfg.lm_model, batch_size=cfg.batch_size)
    return IFDScorer(lm) if cfg.scorer == "ifd" else PerplexityScorer(lm)


def apply_scores(records: Sequence[Record], scorer: Scorer, batch: int = 256) -> dict:
    """Score `records` in batches, writing meta.scores.<scorer.name>; returns counts."""
    scored = failed = 0
    errors: dict[str, int] = {}
    records = list(records)
    for start in range(0, len(records), batch):
        chunk = records[start: start + batch]
        results = scorer.score_many(chunk)
        if len(results) != len(chunk):
            raise RuntimeError(f"scorer {scorer.name} returned {len(results)} scores for {len(chunk)} records")
        for r, s in zip(chunk, results):
            r.meta.setdefault("scores", {})[scorer.name] = s
            if s.get("value") is None:
                failed += 1
                err = s.get("error") or "unscored"
                errors[err] = errors.get(err, 0) + 1
            else:
                scored += 1
    return {"scored": scored, "failed": failed, "errors": errors}


def score_value(record: Record, name: str):
    s = (record.meta.get("scores") or {}).get(name)
    return s.get("value") if isinstance(s, dict) else None
