"""Prompt templates are files: prompts/<lang>/<name>.txt, loaded by name.

Templates use `{placeholder}` fields filled with str.format; a reviewer can read every
prompt without reading code. The hash of each template goes into record meta and the
dataset manifest so a change of prompt is visible.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError
from .text import LANGS



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


# ---- the prompts' own scaffolding ---------------------------------------------------------
# A label that frames a slot in a prompt ("Input:", "Task: {instruction}", "用户：") must not
# turn up in what the model wrote: a reply that repeats it copied the prompt's frame. Labels
# are read from the prompt files themselves, so a new prompt brings its labels along.
_EN_LABEL = r"#?[A-Z][A-Za-z]*(?: [A-Za-z]+){0,2}#?"
_ZH_LABEL = r"#?[\u4e00-\u9fff][\u4e00-\u9fff]{0,7}#?"
_LABEL_LINE = {"en": re.compile(rf"^[ \t]*({_EN_LABEL})[ \t]*:(.*)$"),
               "zh": re.compile(rf"^[ \t]*({_ZH_LABEL})[ \t]*[:：](.*)$")}
# the words right before a colon inside a sentence ("Write the user's next message: ...")
_CUE = {"en": re.compile(r"\b([A-Za-z']+ [A-Za-z']+):(?=\s)"),
        "zh": re.compile(r"([\u4e00-\u9fff]{2,4})：")}
_GENERIC_CUE = {"this", "it", "one", "the", "as", "both", "reply", "of", "a", "and", "or", "be",
                "以下", "如下", "完全", "下面"}


@lru_cache(maxsize=None)
def scaffolding(lang: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(slot labels, cue phrases) of every prompt file of `lang`.

    A slot label starts a line and frames data: text follows it on its line ("Input: 42"),
    or a {placeholder} does, or it ends the prompt ("User:") — a heading such as "Rules:"
    over a list is not one. A cue is the two words (four characters in Chinese) before a
    colon inside a sentence ("next message:"), unless they are generic ("the following:")."""
    if lang not in LANGS:
        raise ConfigError(f"unknown language '{lang}' (choose from {', '.join(LANGS)})")
    labels: set[str] = set()
    cues: set[str] = set()
    for path in sorted((prompts_dir() / lang).glob("*.txt")):
        lines = path.read_text(encoding="utf-8").rstrip("\n").splitlines()
        for i, line in enumerate(lines):
            if line.lstrip().startswith("# "):  # a comment of a templates file
                continue
            m = _LABEL_LINE[lang].match(line)
            if m:
                rest = m.group(2).strip()
                following = next((x.strip() for x in lines[i + 1:] if x.strip()), "")
                if rest or following.startswith("{") or not following:
                    labels.add(m.group(1))
                continue
            for cue in _CUE[lang].findall(line):
                first = cue.split()[0].lower() if lang == "en" else cue[:2]
                if first not in _GENERIC_CUE and len(cue) >= 3:
                    cues.add(cue if lang == "zh" else cue.lower())
    return tuple(sorted(labels)), tuple(sorted(cues))
