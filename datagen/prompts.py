"""Prompt templates are files: prompts/<lang>/<name>.txt, loaded by name.

Templates use `{placeholder}` fields filled with str.format; a reviewer can read every
prompt without reading code. The hash of each template goes into record meta and the
dataset manifest so a change of prompt is visible.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

LANGS = ("en", "zh")


def prompts_dir() -> Path:
    env = os.environ.get("DATAGEN_PROMPTS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "prompts", here / "prompts_data"):
        if cand.is_dir():
            return cand
    raise ConfigError("prompt templates not found (set DATAGEN_PROMPTS to the prompts/ folder)")


@dataclass(frozen=True)
class Prompt:
    name: str
    lang: str
    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"{self.lang}/{self.name}"

    def render(self, **fields) -> str:
        return self.text.format(**fields)


@lru_cache(maxsize=None)
def load_prompt(name: str, lang: str = "en") -> Prompt:
    if lang not in LANGS:
        raise ConfigError(f"unknown language '{lang}' (choose from {', '.join(LANGS)})")
    path = prompts_dir() / lang / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"prompt template '{lang}/{name}' not found at {path}")
    return Prompt(name=name, lang=lang, text=path.read_text(encoding="utf-8").rstrip("\n"))
