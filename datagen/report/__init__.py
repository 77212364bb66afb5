"""Dataset reports: numbers (stats.json), pictures (PNG) and one self-contained HTML page,
comparable with the Self-Instruct paper's statistics.

    from datagen.report import load_version, write_report
    write_report([load_version("alpaca-en@v2", "datasets")], "out/report")
"""

from .build import ReportOptions, compute_stats, write_report
from .source import ReportInput, load_jsonl, load_version, split_seeds

__all__ = ["ReportInput", "ReportOptions", "compute_stats", "load_jsonl", "load_version",
           "split_seeds", "write_report"]
