"""Reports: results -> terminal table, JSON files, Markdown, HTML, JUnit.

Names below are imported on first use (PEP 562): ``replay`` and ``explore`` print through
``report.text`` and must not pay for rich and the runner on the way.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FORMAT": "race_harness.report.json_report",
    "VERSION": "race_harness.report.json_report",
    "new_run_dir": "race_harness.report.json_report",
    "write_results": "race_harness.report.json_report",
    "format_evidence": "race_harness.report.terminal",
    "format_legend": "race_harness.report.terminal",
    "format_not_run": "race_harness.report.terminal",
    "format_table": "race_harness.report.terminal",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
