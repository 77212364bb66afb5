"""Registries of "module:Class" entries, imported when first asked for (so `datagen --help`
imports none of them): the generators (generators/__init__.py) and the pipeline's
post-publish steps (run/steps.py)."""

from __future__ import annotations

import importlib

from .errors import ConfigError


def lookup(registry: dict, key: str, what: str):
    """The class registered as `key` (a "module:Class" entry is imported); ConfigError
    naming `what` and the choices if there is none."""
    entry = registry.get(key)
    if entry is None:
        raise ConfigError(f"unknown {what} '{key}' (choose from {', '.join(registry)})")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry
