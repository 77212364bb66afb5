"""Which seed tasks are held out for evaluation: a pure function of the ids, so later
runs (and other machines) hold out the same tasks whatever order the seeds come in."""

from __future__ import annotations

import hashlib
from typing import Iterable


def held_out(ids: Iterable[str], fraction: float) -> set[str]:
    """The ids whose hash falls in the first `fraction` of the hash space."""
    if fraction <= 0:
        return set()
    cut = int(fraction * 2**32)
    return {i for i in ids if int(hashlib.sha256(f"datagen-eval:{i}".encode()).hexdigest()[:8], 16) < cut}
