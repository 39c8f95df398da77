"""Runners drive sessions against a database and write the history."""

from harness.runner.config import ConflictPolicy, RunConfig
from harness.runner.stress import RunRecord, StressRun, run_stress

__all__ = ["ConflictPolicy", "RunConfig", "RunRecord", "StressRun", "run_stress"]
