"""The pair-quality report: ``build_report(pairs_dir)`` writes ``report.html`` (one self-contained page) and
``report.json`` (the same figures) from a ``mine-pairs`` output directory."""

from report.build import ReportSummary, build_report
from report.config import ReportConfig

__all__ = ["ReportConfig", "ReportSummary", "build_report"]
