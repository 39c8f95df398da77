"""The checker benchmark's generated histories are what they claim: exact length, and the checker
reaches the verdict the simulated strategy implies (so the benchmark times real checking work)."""

from __future__ import annotations

import pytest

from benchmarks.histories import generate
from race_harness.checkers import check
from race_harness.scenario import get_scenario


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_exactly_n_completed_operations(n: int) -> None:
    gen = generate(get_scenario("glance_image_update"), n)
    ops = gen.history.operations()
    assert len(ops) == n
    assert all(op.end is not None for op in ops)


def test_full_row_loses_glance_updates_and_the_checker_explains_them() -> None:
    gen = generate(get_scenario("glance_image_update"), 5000, apply="full-row")
    result = check(gen.history.operations(), gen.initial, gen.final)
    assert result.verdict == "lost-updates"
    assert result.lost_writes > 0
    assert all(a.explanation for a in result.anomalies)


def test_full_row_loses_counter_increments() -> None:
    gen = generate(get_scenario("counter"), 2000, apply="full-row")
    result = check(gen.history.operations(), gen.initial, gen.final)
    assert any(a.kind == "counter-lost" for a in result.anomalies)


def test_version_occ_loses_nothing_and_refuses_conflicts() -> None:
    gen = generate(get_scenario("counter"), 5000, apply="version-occ")
    result = check(gen.history.operations(), gen.initial, gen.final, token="version")
    assert result.verdict == "no-lost-updates"
    assert result.stats.conflicts > 0
    assert not result.invariant_violations
