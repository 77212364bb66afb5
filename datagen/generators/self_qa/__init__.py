"""Self-QA: questions from document chunks, answered from the same chunk (Zhang & Yang 2023)."""

from .generator import SelfQAConfig, SelfQAGenerator

__all__ = ["SelfQAConfig", "SelfQAGenerator"]
