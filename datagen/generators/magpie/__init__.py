"""Magpie: instructions sampled from an aligned model's own chat template, then answered."""

from .generator import MagpieConfig, MagpieGenerator

__all__ = ["MagpieConfig", "MagpieGenerator"]
