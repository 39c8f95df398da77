"""Shared by every test directory. pytest loads this file at start-up (it is on ``testpaths``), also in
the xdist controller, which collects nothing itself, so the summary hook below runs there."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The schedule sweeps' figures (recorded with record_property, so they cross xdist workers)."""
    lines = sorted(
        str(value)
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == "schedule_exploration"
    )
    if lines:
        terminalreporter.section("schedule exploration (safe strategies)")
        for line in lines:
            terminalreporter.write_line(line)
