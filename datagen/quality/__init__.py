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
from ..text import LANG_CHOICES

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
                                                "choices": LANG_CHOICES})
    lm_model: str | None = field(default=None, metadata={
        "help": "ifd/perplexity: a local HF causal-LM folder [default: the embedded SmolLM2]."})
    batch_size: int = field(default=32, metadata={"help": "ifd/perplexity: sequences per forward pass.", "min": 1})
    block: int = field(default=256, metadata={
        "help": "Records per scoring block (one Ray task with --executor ray; a local run scores the same "
                "blocks, so both give the same scores).", "min": 1})
    judge_llm: dict | None = field(default=None, metadata={
        "help": "Judge model (an llm: mapping); default: the pipeline's llm.", "cli": False})

    def __post_init__(self):
        from ..config import validate

        validate(self)


def resolve_config(cfg: ScoreConfig, records: Sequence[Record]) -> ScoreConfig:
    """`cfg` with the judge's language decided from the whole version (`auto`: from its
    first 1,000 instructions), so every block of it is judged in the same language."""
    import dataclasses

    if cfg.scorer != "judge" or cfg.lang != "auto":
        return cfg
    from ..text import detect_lang

    return dataclasses.replace(cfg, lang=detect_lang([r.instruction for r in records[:1000]] or [""]))


def make_scorer(cfg: ScoreConfig, records: Sequence[Record] = (), client=None) -> Scorer:
    """The scorer `cfg` names; the judge needs `client` (the judge's ChatClient)."""
    if cfg.scorer == "judge":
        from .judge import JudgeScorer

        if client is None:
            raise ConfigError("the judge scorer needs an LLM client")
        return JudgeScorer(client, lang=resolve_config(cfg, records).lang, aspects=cfg.aspects)
    from .lm import IFDScorer, LMScorer, PerplexityScorer

    lm = LMScorer(model_path=cfg.lm_model, batch_size=cfg.batch_size)
    return IFDScorer(lm) if cfg.scorer == "ifd" else PerplexityScorer(lm)


@dataclass
class ScoreWork:
    """One scoring job cut into blocks, wherever a block runs: this process, or a Ray
    worker (datagen/run/executor.py). `cfg` is resolved (resolve_config), so a block
    needs nothing from the rest of the version; a block's scores depend on its records
    only, so the same blocks give the same scores anywhere."""

    cfg: ScoreConfig

    @property
    def needs_client(self) -> bool:
        return self.cfg.scorer == "judge"

    def make_scorer(self, client=None) -> Scorer:
        """Built once per process (a worker loads the local LM once for all its blocks)."""
        return make_scorer(self.cfg, (), client)

    def run_block(self, block: Sequence[Record], scorer: Scorer) -> list[dict]:
        results = scorer.score_many(list(block))
        if len(results) != len(block):
            raise RuntimeError(f"scorer {scorer.name} returned {len(results)} scores for {len(block)} records")
        return results


def split_blocks(records: Sequence[Record], size: int) -> list[list[Record]]:
    records = list(records)
    return [records[i: i + size] for i in range(0, len(records), max(1, size))]


def apply_scores(records: Sequence[Record], scorer: Scorer, batch: int = 256) -> dict:
    """Score `records` in batches, writing meta.scores.<scorer.name>; returns counts."""
    blocks = split_blocks(records, batch)
    return write_scores(blocks, scorer.name, (scorer.score_many(b) for b in blocks))


def write_scores(blocks: Sequence[Sequence[Record]], name: str, results) -> dict:
    """Each block's scores (`results`, one list per block, in block order) into its
    records' meta.scores.<name>; returns counts."""
    scored = failed = 0
    errors: dict[str, int] = {}
    for chunk, block_results in zip(blocks, results):
        if len(block_results) != len(chunk):
            raise RuntimeError(f"scorer {name} returned {len(block_results)} scores for {len(chunk)} records")
        for r, s in zip(chunk, block_results):
            r.meta.setdefault("scores", {})[name] = s
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
