"""Reports: results -> terminal table, JSON files."""

from race_harness.report.json_report import FORMAT, VERSION, new_run_dir, write_results
from race_harness.report.terminal import format_evidence, format_legend, format_not_run, format_table

__all__ = [
    "FORMAT",
    "VERSION",
    "format_evidence",
    "format_legend",
    "format_not_run",
    "format_table",
    "new_run_dir",
    "write_results",
]
