"""Every scenario x strategy on real PostgreSQL, MariaDB/MySQL and SQLite reaches its declared verdict.

Both directions are asserted. An unsafe combination must show a lost update; it gets up to
``ROUNDS`` fresh runs to do so (each run is hundreds of contended writes, so in practice the first
one does). A safe combination must lose nothing in EVERY round, and it only passes once the race
is proven to have happened: writes overlapped, and either the strategy refused conflicting writes
(OCC) or acknowledged writes raced from the same read (partial-update).
"""

from __future__ import annotations

import pytest

from race_harness import RunConfig, check, get_scenario, get_strategy, run_stress
from race_harness.databases import Backend
from race_harness.scenario import scenario_names
from race_harness.strategies import Strategy, all_specs

ROUNDS = 4
CONFIG = RunConfig(writers=8, readers=2, think_ms=2.0)
CELLS = [
    (scenario, spec)
    for scenario in scenario_names()
    for spec in all_specs()
    if get_scenario(scenario).expectation(get_strategy(spec)) != "n/a"
]


def _race_proven(strategy: Strategy, raced: int, conflicts: int, same_read: int) -> bool:
    """Writes raced (an acknowledgement landed while another write ran), and the strategy's own sign
    of a race it survived is there."""
    if raced == 0:
        return False
    if strategy.proof == "same-read":
        return same_read > 0  # acknowledged writes raced from one read and nothing was lost
    if strategy.proof == "conflicts":
        return conflicts > 0  # the strategy or the database refused the losing writes
    return True  # lock-based: racing writes queued on the lock


@pytest.mark.parametrize(("scenario_name", "spec"), CELLS)
def test_declared_verdict(backend: Backend, scenario_name: str, spec: str) -> None:
    scenario, strategy = get_scenario(scenario_name), get_strategy(spec)
    expected = scenario.expectation(strategy)
    seen = []
    for round_no in range(1, ROUNDS + 1):
        record = run_stress(scenario, strategy, backend, CONFIG)
        assert not record.harness_errors, record.harness_errors
        result = check(record.history, record.initial, record.final, token=strategy.token)
        s = result.stats
        seen.append(
            f"round {round_no}: {result.verdict} lost={result.lost_writes}/{result.acknowledged} "
            f"raced={s.raced_writes} conflicts={s.conflicts} same-read={s.same_read_pairs}"
        )
        assert not result.checker_errors, result.checker_errors
        assert s.writes == record.history.operations().__len__() - s.reads  # nothing dropped
        if expected == "lost":
            if result.verdict == "lost-updates":
                lost = [a for a in result.anomalies if a.kind in ("lost-update", "counter-lost")]
                assert lost and all(a.explanation for a in lost)
                return
        else:
            assert result.verdict != "lost-updates", (
                f"{spec} is declared safe for {scenario_name} but lost updates on {backend.label}:\n"
                + "\n".join(a.explanation for a in result.anomalies[:3])
            )
            assert not [a for a in result.invariant_violations], result.invariant_violations[:3]
            if _race_proven(strategy, s.raced_writes, s.conflicts, s.same_read_pairs):
                assert result.verdict == "no-lost-updates"
                return
    pytest.fail(
        f"{scenario_name} x {spec} on {backend.label} did not reach '{expected}' with the race "
        f"proven in {ROUNDS} rounds: " + "; ".join(seen)
    )


@pytest.mark.parametrize(("spec", "expected"), [("version-occ", "no-lost-updates"), ("full-row", "lost-updates")])
def test_nova_update_all_removals_are_judged_legal_only_when_they_could_follow(
    backend: Backend, spec: str, expected: str
) -> None:
    """With ``update_all`` in the mix many keys disappear legitimately; a safe strategy must still pass."""
    scenario = get_scenario("nova_server_metadata").with_params({"update_all_ratio": 0.3})
    strategy = get_strategy(spec)
    verdicts = []
    for _ in range(ROUNDS):
        record = run_stress(scenario, strategy, backend, CONFIG)
        result = check(record.history, record.initial, record.final, token=strategy.token)
        assert any(op.name == "update_all" and op.type == "ok" for op in record.history.operations())
        verdicts.append(result.verdict)
        if expected == "lost-updates" and result.verdict == expected:
            return
        if expected == "no-lost-updates":
            assert result.verdict != "lost-updates", [a.explanation for a in result.anomalies[:3]]
            if result.verdict == expected and result.stats.conflicts > 0:
                return
    pytest.fail(f"expected {expected} within {ROUNDS} rounds, got {verdicts}")


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_process_lock_protects_threads_but_not_processes(backend: Backend, processes: bool) -> None:
    scenario, strategy = get_scenario("counter"), get_strategy("process-lock")
    config = RunConfig(writers=4, readers=1, ops=120, processes=processes)
    expected = scenario.expectation(strategy, processes=processes)
    assert expected == ("lost" if processes else "none")
    for _ in range(ROUNDS):
        record = run_stress(scenario, strategy, backend, config)
        assert not record.harness_errors, record.harness_errors
        ops = record.history.operations()
        assert len({op.process for op in ops if op.is_write}) == 4
        result = check(ops, record.initial, record.final)
        if processes and result.verdict == "lost-updates":
            return
        if not processes:
            assert result.verdict == "no-lost-updates"
            return
    pytest.fail("process-lock with writer processes never lost an update")
