"""Hypothesis explores schedules on PostgreSQL and MariaDB/MySQL.

- For each seed scenario's unsafe strategy it finds a losing schedule within 50 examples, shrinks it
  to at most 4 sessions, and the replay command in the failure message reproduces it 20/20.
- Each safe strategy loses nothing in 200 generated schedules per database, and the run reports
  how many of them really interleaved conflicting steps (it must be most of them).
- The example database replays a found failure first.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase

from race_harness import get_scenario, get_strategy
from race_harness.explore import LostUpdateFound, assert_no_lost_updates, schedules
from race_harness.runner.schedule import ScheduleResult, ScheduleRunner
from race_harness.scenario import Scenario, scenario_names
from race_harness.schedule import Schedule
from race_harness.strategies import all_specs
from tests.cli import race_harness

from .conftest import get_backend

SERVERS = ["postgres", "mysql"]
UNSAFE = [
    ("glance_image_update", "full-row"),
    ("nova_server_metadata", "full-row"),
    ("counter", "full-row"),
    ("counter", "partial-update"),
    ("same_second_timestamps", "timestamp-occ:0"),
]
SCENARIOS = [get_scenario(n) for n in scenario_names()]
SAFE = [s for s in all_specs() if any(sc.expectation(get_strategy(s)) == "none" for sc in SCENARIOS)]
SAFE_EXAMPLES = 200


@pytest.mark.parametrize("db", SERVERS)
@pytest.mark.parametrize(("scenario_name", "spec"), UNSAFE)
def test_hypothesis_finds_shrinks_and_the_printed_command_replays_it(
    db: str, scenario_name: str, spec: str, tmp_path: Path
) -> None:
    backend = get_backend(db)
    scenario, strategy = get_scenario(scenario_name), get_strategy(spec)
    with ScheduleRunner(backend) as runner:

        @settings(max_examples=50, database=None, deadline=None)
        @given(schedule=schedules(scenario, strategy))
        def no_lost_updates(schedule: Schedule) -> None:
            assert_no_lost_updates(runner.run(schedule, scenario, strategy))

        with pytest.raises(LostUpdateFound) as found:
            no_lost_updates()
    minimal = found.value.result.schedule
    assert len(minimal.sessions) <= 4
    lines = [line.strip() for line in str(found.value).splitlines()]
    assert lines[-1] == f"@example(schedule=Schedule.parse({str(minimal)!r}))"
    command = lines[-3]
    assert command.startswith("race-harness replay ") and "--repeat 20" in command
    proc = race_harness(*shlex.split(command)[1:], "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # every counted run reproduces; a whole-second run that never fitted in its second is set aside
    found_line = re.search(rf"{re.escape(backend.label)}: reproduced (\d+)/(\d+)", proc.stdout)
    assert found_line and found_line[1] == found_line[2] and int(found_line[2]) >= 18, proc.stdout + proc.stderr


def _pinned(scenarios: list[Scenario]) -> list[tuple[Scenario, Schedule]]:
    """Known schedules, always run first: each scenario's named ones, with and without open writes."""
    out = []
    for sc in scenarios:
        for text in ("A.read B.read A.write B.write", "A.read B.read A.write B.write A.commit B.commit"):
            out.append((sc, Schedule.parse(text)))
    return out


@pytest.mark.parametrize("db", SERVERS)
@pytest.mark.parametrize("spec", SAFE)
def test_a_safe_strategy_loses_nothing_in_generated_schedules(
    db: str, spec: str, record_property: pytest.RecordProperty
) -> None:
    backend = get_backend(db)
    strategy = get_strategy(spec)
    safe_in = [sc for sc in SCENARIOS if sc.expectation(strategy) == "none"]
    seen: list[ScheduleResult] = []
    cases = st.sampled_from(safe_in).flatmap(lambda sc: st.tuples(st.just(sc), schedules(sc, strategy)))

    with ScheduleRunner(backend) as runner:

        def no_lost_updates(case: tuple[Scenario, Schedule]) -> None:
            scenario, schedule = case
            result = runner.run(schedule, scenario, strategy)
            seen.append(result)
            assert_no_lost_updates(result)
            assert result.assumed_waits == 0 and result.canceled == 0, result.format()

        test = given(case=cases)(no_lost_updates)
        for pinned in _pinned(safe_in):
            test = example(case=pinned)(test)
        settings(
            max_examples=SAFE_EXAMPLES, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )(test)()
    interleaved = sum(r.interleaved for r in seen)
    waited = sum(1 for r in seen if r.lock_waits)
    refused = sum(1 for r in seen if r.result.stats.conflicts)
    summary = (
        f"{spec} on {backend.label}: {len(seen)} schedules, {interleaved} interleaved conflicting steps "
        f"({waited} with a lock wait, {refused} with a refused or aborted write), 0 lost"
    )
    record_property("schedule_exploration", summary)
    assert len(seen) >= SAFE_EXAMPLES, summary
    assert interleaved >= len(seen) // 2, summary  # the race really was on in most of them


def test_the_example_database_runs_a_found_failure_first() -> None:
    backend = get_backend("sqlite")
    scenario, strategy = get_scenario("counter"), get_strategy("full-row")
    db = InMemoryExampleDatabase()
    tried: list[Schedule] = []
    with ScheduleRunner(backend) as runner:

        def no_lost_updates(schedule: Schedule) -> None:
            tried.append(schedule)
            assert_no_lost_updates(runner.run(schedule, scenario, strategy))

        first = settings(database=db, max_examples=50, deadline=None)(
            given(schedule=schedules(scenario))(no_lost_updates)
        )
        with pytest.raises(LostUpdateFound) as found:
            first()
        tried.clear()
        again = settings(database=db, max_examples=1, phases=[Phase.reuse], deadline=None)(
            given(schedule=schedules(scenario))(no_lost_updates)
        )
        with pytest.raises(LostUpdateFound):
            again()
    assert tried[0] == found.value.result.schedule
