"""Self-Instruct: bootstrap new tasks from seed tasks (Wang et al. 2022)."""

from .generator import NAME, SelfInstructConfig, SelfInstructGenerator

__all__ = ["NAME", "SelfInstructConfig", "SelfInstructGenerator"]
