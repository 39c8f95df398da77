"""Several race tests of one application in one process: it is configured once (the harness's
scratch databases for it keep one name), so each test runs unmodified. Run by test_configure_once.py
in a project of its own, not collected by the suite itself."""

from __future__ import annotations

import pytest
from once_app import FIXED, LOST


@pytest.mark.race(expect="lost")
def test_the_full_row_save_loses_under_stress(race_runner):
    race_runner.stress(LOST, writers=8, ops=400, think_ms=5)


@pytest.mark.race(expect="none")
def test_the_fix_loses_nothing_under_stress(race_runner):
    race_runner.stress(FIXED, writers=8, ops=400, think_ms=5)


@pytest.mark.race(expect="lost")
def test_the_phase_schedule_loses(race_runner):
    race_runner.schedule("A=retitle B=rewrite A.read B.read A.write B.write", LOST)


@pytest.mark.race(expect="lost")
def test_exploration_loses(race_runner):
    race_runner.explore(LOST)
