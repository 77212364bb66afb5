"""What an adapter folder says about itself: its train_report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError


def train_report(adapter: str | Path) -> dict[str, Any]:
    """The adapter's train_report.json ({} when it has none, e.g. trained elsewhere)."""
    path = Path(adapter) / "train_report.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON: {e.msg}") from None


def train_store(adapter: str | Path) -> str | None:
    """The store root the adapter's training version came from."""
    return (train_report(adapter).get("data") or {}).get("store")
