"""Preference pairs from a dataset version: N responses per instruction, judged pairwise
in both orders, kept as (chosen, rejected) where the judge is consistent and the margin
clears a threshold. See docs/preferences.md.

`PrefsConfig` holds the options (one declaration gives the YAML key and the flag);
`pairs.py` decides pairs from judgements (pure); `stage.py` samples, judges and
publishes; `export.py` writes the trainers' preference formats."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["PrefsConfig", "is_preference_version"]


@dataclass
class PrefsConfig:
    """`datagen prefs` options (YAML `prefs:`)."""

    responses: int = field(default=4, metadata={
        "help": "Responses sampled per instruction, spread over the --model list in turn.", "min": 2, "max": 16})
    models: list[str] = field(default_factory=list, metadata={
        "help": "A model that answers: NAME, or NAME=BASE_URL for one on its own server; repeat to contrast "
                "a strong and a weak one (default: the backend's model, with --base-url).", "flag": "--model"})
    judge_model: str | None = field(default=None, metadata={
        "help": "The judge's model (default: the first --model)."})
    judge_base_url: str | None = field(default=None, metadata={
        "help": "The judge's OpenAI-compatible endpoint (default: the --base-url one)."})
    min_margin: float = field(default=0.5, metadata={
        "help": "Keep a pair only when (chosen's score - rejected's) / (2 * (responses - 1)) reaches this; "
                "a score is consistent wins minus consistent losses over the other responses.",
        "min": 0, "max": 1})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature of the responses.", "min": 0})
    max_tokens: int = field(default=512, metadata={"help": "Longest response, in tokens.", "min": 1})
    limit: int | None = field(default=None, metadata={
        "help": "Use the first N instructions of the version only.", "min": 1})
    into: str | None = field(default=None, metadata={
        "help": "Dataset to publish the pairs in (default: SOURCE-prefs)."})
    seed: int = field(default=0, metadata={"help": "Seed of the response requests (a re-run hits the cache)."})

    def __post_init__(self):
        from ..config import validate

        if isinstance(self.models, str):
            self.models = [self.models]
        self.models = list(self.models or [])
        for m in self.models:
            if not m.split("=", 1)[0].strip():
                raise ConfigError(f"prefs: --model {m!r} needs a model name (NAME or NAME=BASE_URL)")
        validate(self)

    def model_specs(self, default_model: str) -> list[tuple[str, str | None]]:
        """(model, base_url or None) per responder, in the order responses go round."""
        specs = self.models or [default_model]
        return [(s.split("=", 1)[0].strip(), s.split("=", 1)[1].strip() if "=" in s else None) for s in specs]


@dataclass(frozen=True)
class Turn:
    """The user turn a pair's responses answer, in its context: the system prompt, the
    earlier (user, assistant) turns of a conversation, the turn itself, and the source
    record's own answer to it (the judge's reference)."""

    system: str
    history: tuple[tuple[str, str], ...]
    prompt: str
    reference: str = ""

    def messages(self) -> list[dict[str, str]]:
        """What a responder is sent, and a trainer's prompt: system, earlier turns, the turn."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        for user, assistant in self.history:
            msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return msgs + [{"role": "user", "content": self.prompt}]


def is_preference_version(manifest: dict) -> bool:
    return manifest.get("stage") == "prefs"
