"""Self-KG: question/answer pairs from knowledge-graph triples, as HuaTuo built its data."""

from .generator import SelfKGConfig, SelfKGGenerator

__all__ = ["SelfKGConfig", "SelfKGGenerator"]
