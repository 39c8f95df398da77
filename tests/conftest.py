"""Shared by every test directory. pytest loads this file at start-up (it is on ``testpaths``), also in
the xdist controller, which collects nothing itself, so the summary hook below runs there."""

from __future__ import annotations

import pytest
from hypothesis import settings

# an application of its own, with its own tests: tests/integration/test_outside_app.py installs it
# and runs them from its directory, as its developers would
collect_ignore = ["outside_app"]

# No per-example deadline: an example's wall time measures the machine's load, not the code under
# test (a first example took 270 ms beside a running test suite, 3 ms on its replay).
settings.register_profile("race-harness", deadline=None)
settings.load_profile("race-harness")


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
