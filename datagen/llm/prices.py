"""Prices: US dollars per 1M prompt and completion tokens by model (prices.yaml, shipped in
the wheel), with a user's file laid over it (--prices FILE or $DATAGEN_PRICES); docs/cost.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PRICES_FILE = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class Price:
    input: float  # $ per 1M prompt tokens
    output: float  # $ per 1M completion tokens
    batch_discount: float = 0.5
    source: str = ""
    as_of: str = ""

    def dollars(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        d = (prompt_tokens * self.input + completion_tokens * self.output) / 1e6
        return d * (1 - self.batch_discount) if batch else d


class PriceTable:
    def __init__(self, models: dict[str, Price]):
        self.models = models

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "PriceTable":
        """The packaged table, with `path` (or $DATAGEN_PRICES) laid over it."""
        models = _read_prices(PRICES_FILE)
        user = path or os.environ.get("DATAGEN_PRICES")
        if user:
            models.update(_read_prices(Path(user)))
        return cls(models)

    def lookup(self, model: str | None) -> Price | None:
        """The price of `model`, or of the longest listed name it starts with (a dated snapshot)."""
        if not model:
            return None
        name = model.split("/")[-1].lower()
        if name in self.models:
            return self.models[name]
        prefixes = [m for m in self.models if name.startswith(m + "-")]
        return self.models[max(prefixes, key=len)] if prefixes else None


def _read_prices(path: Path) -> dict[str, Price]:
    from ..errors import DataError
    from ..io import load_yaml

    if not path.is_file():
        raise DataError(path, None, "price file not found")
    data = load_yaml(path) or {}
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise DataError(path, None, "a price file is a mapping with a `models:` mapping")
    discount = float((data.get("defaults") or {}).get("batch_discount", 0.5))
    out = {}
    for name, row in (data.get("models") or {}).items():
        try:
            out[str(name).lower()] = Price(
                input=float(row["input"]), output=float(row["output"]),
                batch_discount=float(row.get("batch_discount", discount)),
                source=str(row.get("source", "")), as_of=str(row.get("as_of", "")))
        except (KeyError, TypeError, ValueError):
            raise DataError(path, None, f"model {name}: needs numeric `input` and `output` ($ per 1M tokens)") from None
    return out
