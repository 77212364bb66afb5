"""Optional stages sit behind pip extras; `require_extra` turns a missing package into one
line naming the extra to install, instead of an ImportError traceback."""

from __future__ import annotations

import importlib.util
import sys

from .errors import ConfigError

EXTRAS = {
    "train": ("peft", "trl", "accelerate", "matplotlib"),  # matplotlib: the loss curve
    "report": ("matplotlib", "jieba"),
    "ray": ("ray",),  # --executor ray
    "faiss": ("faiss",),  # embedding dedup past FilterConfig.faiss_above vectors
    # Self-QA's PDF, Word, HTML, EPUB and PowerPoint readers (datagen/io/readers.py)
    "docs": ("pdfplumber", "mammoth", "markdownify", "trafilatura", "lxml_html_clean", "ebooklib", "pptx"),
    "studio": ("starlette", "uvicorn"),  # datagen studio
}


def require_extra(extra: str, what: str | None = None) -> None:
    """Check that every package of `extra` is installed; ConfigError naming the extra if not.
    `what` names the command in the message (default: `datagen EXTRA`)."""
    for module in EXTRAS[extra]:
        # looked up, not imported: `datagen train --help` stays instant
        if module in sys.modules:
            missing = sys.modules[module] is None
        else:
            missing = importlib.util.find_spec(module) is None
        if missing:
            raise ConfigError(f"{what or 'datagen ' + extra} needs the '{extra}' extra ({module} is not "
                              f"installed): pip install 'datagen[{extra}]'")
