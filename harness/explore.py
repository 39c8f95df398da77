"""Hypothesis strategies that generate schedules, and the assertion that turns a lost update into a
failure a person can reproduce.

``schedules(scenario, strategy)`` draws the number of sessions (2-4), each session's operation (one
of the scenario's named operations the strategy can carry out: which fields or keys, merge or
replace) and an interleaving that keeps every session's own step order. Interleavings shrink toward
the serial order, so Hypothesis reports the smallest interleaving that still loses an update.

``assert_no_lost_updates(result)`` fails with a message that ends with the exact replay command and
an ``@example(...)`` line to pin the schedule in the test::

    @settings(deadline=None)
    @given(schedule=schedules(SCENARIO, STRATEGY))
    def test_no_lost_updates(schedule):
        assert_no_lost_updates(runner.run(schedule, SCENARIO, STRATEGY))

Hypothesis comes with the ``explore`` extra and is imported by :func:`schedules` only: its own
pytest plugin costs every pytest run of a project that has it installed, so race-harness does not
install it unasked, and ``assert_no_lost_updates`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from race_harness.errors import UsageError
from race_harness.runner.schedule import ScheduleResult
from race_harness.scenario import Scenario
from race_harness.schedule import FULL, SESSION_LETTERS, Schedule, interleave
from race_harness.strategies.base import Strategy

if TYPE_CHECKING:
    from hypothesis import strategies as st

MAX_SESSIONS = 4
_NO_HYPOTHESIS = "exploring schedules needs Hypothesis, which is not installed: pip install 'race-harness[explore]'"


class LostUpdateFound(AssertionError):
    """A schedule lost an acknowledged update; the message says how to replay and pin it."""

    def __init__(self, result: ScheduleResult) -> None:
        super().__init__(failure_message(result))
        self.result = result


def expressible_operations(scenario: Scenario, strategy: Strategy | None) -> list[str]:
    """The scenario's schedule operations the strategy can carry out (atomic-update has no update_all)."""
    names = list(scenario.schedule_operations)
    if strategy is None:
        return names
    return [n for n in names if strategy.expressible(scenario.schedule_write(0, n, 2).intent)]


def schedules(
    scenario: Scenario, strategy: Strategy | None = None, *, min_sessions: int = 2, max_sessions: int = MAX_SESSIONS
) -> st.SearchStrategy[Schedule]:
    """Schedules for ``scenario``: 2-4 sessions, their operations, and how their steps interleave."""
    try:
        from hypothesis import strategies as st
    except ImportError:
        raise UsageError(_NO_HYPOTHESIS) from None
    operations = expressible_operations(scenario, strategy)
    if not operations:
        raise ValueError(f"{strategy.spec if strategy else '?'} can carry out no operation of {scenario.name}")
    default = next(iter(scenario.schedule_operations))  # left unnamed in the schedule text

    @st.composite
    def build(draw: st.DrawFn) -> Schedule:
        count = draw(st.integers(min_sessions, max_sessions))
        letters = SESSION_LETTERS[:count]
        chosen = {s: draw(st.sampled_from(operations)) for s in letters}
        steps = count * len(FULL)
        choices = draw(st.lists(st.integers(0, count - 1), min_size=steps, max_size=steps))
        named = {s: op for s, op in chosen.items() if op != default}
        return interleave(letters, choices, named)

    return build()


def schedule_settings(**overrides: Any) -> Any:
    """Hypothesis ``settings`` for a test that runs schedules through the ``race_runner`` fixture:
    no deadline (a schedule's time is the database's), and the function-scoped fixture is shared by
    the examples on purpose (it keeps every run for ``@pytest.mark.race``; each schedule starts from
    fresh tables). Keyword arguments override, e.g. ``max_examples=50``."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        raise UsageError(_NO_HYPOTHESIS) from None
    checks = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
    return settings(**{"deadline": None, "suppress_health_check": checks, **overrides})


def failure_message(result: ScheduleResult) -> str:
    r = result.result
    sessions = ", ".join(f"{s}={result.schedule.operation(s) or 'default'}" for s in result.schedule.sessions)
    return "\n".join(
        [
            f"{result.scenario} x {result.strategy} on {result.database} lost {r.lost_writes} of {r.acknowledged} "
            f"acknowledged update(s) under schedule {result.schedule} [{sessions}]",
            *(f"  {line}" for line in result.format().splitlines()),
            "reproduce with:",
            f"  {result.replay_command(repeat=20)}",
            "pin it in the test with:",
            f"  @example(schedule={result.schedule!r})",
        ]
    )


def assert_no_lost_updates(result: ScheduleResult) -> None:
    """Fail with a reproducible message when the schedule lost an update or the harness broke."""
    if result.lost:
        raise LostUpdateFound(result)
    if result.harness_errors:
        raise AssertionError(f"harness error under schedule {result.schedule}: {'; '.join(result.harness_errors)}")


__all__ = [
    "MAX_SESSIONS",
    "LostUpdateFound",
    "assert_no_lost_updates",
    "expressible_operations",
    "schedule_settings",
    "schedules",
]
