"""Generators, by name. Adding one = a package here + prompt files + one REGISTRY line.

An entry is "module:Class" (imported when first asked for, so `datagen --help` stays
light) or the class itself. The class declares its config dataclass (`config_cls`),
whose fields give the YAML keys and the `datagen run NAME` flags.
"""

from __future__ import annotations

from ..registry import lookup
from .base import GenerationReport, Generator, GeneratorConfig, Outcome, run_language

REGISTRY: dict[str, str | type[Generator]] = {
    "self-instruct": "datagen.generators.self_instruct:SelfInstructGenerator",
    "self-qa": "datagen.generators.self_qa:SelfQAGenerator",
    "self-kg": "datagen.generators.self_kg:SelfKGGenerator",
    "evol-instruct": "datagen.generators.evol_instruct:EvolInstructGenerator",
    "magpie": "datagen.generators.magpie:MagpieGenerator",
}

__all__ = ["REGISTRY", "get_generator", "Generator", "GeneratorConfig", "GenerationReport", "Outcome",
           "run_language"]


def get_generator(name: str) -> type[Generator]:
    """The generator class registered as `name`; ConfigError naming the choices if none."""
    return lookup(REGISTRY, name, "generator")
