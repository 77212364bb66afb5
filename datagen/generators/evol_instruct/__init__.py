"""Evol-Instruct: evolve instructions into harder (in-depth) and rarer (in-breadth) ones, as WizardLM."""

from .generator import EvolInstructConfig, EvolInstructGenerator

__all__ = ["EvolInstructConfig", "EvolInstructGenerator"]
