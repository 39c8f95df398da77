"""A scenario's own checkers (``Scenario(checkers=...)``) judge every run of it beside the built-in
ones: a replayed schedule and a stress cell, on a real database."""

from __future__ import annotations

from dataclasses import replace

from race_harness.checkers import Anomaly, Checker, Findings, Inputs
from race_harness.databases import resolve
from race_harness.matrix import run_matrix
from race_harness.runner import RunConfig
from race_harness.runner.schedule import ScheduleRunner
from race_harness.scenario import get_scenario
from race_harness.strategies import get_strategy


def _no_conflicts(inputs: Inputs) -> Findings:
    """Fails any run in which a save was refused: a stricter rule than the scenario's own."""
    refused = [op for op in inputs.table.ops if op.type == "fail"]
    return Findings(
        anomalies=[Anomaly("refused", op.entity, None, (op.id,), f"op {op.id} was refused") for op in refused]
    )


STRICT = Checker("no conflicts", _no_conflicts, fails_on=frozenset({"refused"}))


def test_a_scenarios_own_checker_judges_its_replays_and_its_stress_cells() -> None:
    counter = replace(get_scenario("counter"), checkers=(STRICT,))
    version_occ = get_strategy("version-occ")
    (backend,) = resolve("sqlite")
    backend.start()
    try:
        with ScheduleRunner(backend) as runner:
            plain = runner.run("A.read B.read A.write B.write", get_scenario("counter"), version_occ)
            strict = runner.run("A.read B.read A.write B.write", counter, version_occ)
        cells = run_matrix([counter], [version_occ], [backend], [RunConfig(writers=4, readers=0, ops=40)])
    finally:
        backend.close()
    assert plain.verdict == "no-lost-updates", plain.format()  # B's save was refused: the fix works
    assert strict.verdict == "lost-updates" and strict.result.failures[0].kind == "refused", strict.format()
    (cell,) = cells
    assert cell.result is not None and cell.result.stats.conflicts > 0  # the stress run raced too
    assert cell.result.verdict == "lost-updates" and cell.result.failures[0].kind == "refused"
