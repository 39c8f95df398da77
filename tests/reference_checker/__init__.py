"""The reference checker: the object-at-a-time oracle that ``harness.checkers`` replaced with columns.

Frozen as it was when the columnar checker took over (harness commit 0f887c1), and kept only as an
executable specification: ``tests/unit/test_checker_reference.py`` requires both to reach the same
verdict, figures and evidence on every history it generates. Change a rule in both, or neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from race_harness.checkers.invariants import Predicate
from race_harness.checkers.result import Anomaly, CheckResult, Stats, Verdict
from race_harness.events import Operation
from race_harness.model import State
from tests.reference_checker.index import HistoryIndex
from tests.reference_checker.invariants import Token, check_declared, check_invariants
from tests.reference_checker.lost_update import check_lost_updates, failing_kinds
from tests.reference_checker.stats import compute_stats


def check(
    ops: Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    *,
    token: Token | None = None,
    invariants: Mapping[str, Predicate] | None = None,
) -> CheckResult:
    """Judge one run. ``token`` names the concurrency token the strategy promises to maintain."""
    errors: list[str] = []
    stats = Stats()
    anomalies: list[Anomaly] = []
    violations: list[Anomaly] = []
    lost = acknowledged = 0
    index = HistoryIndex(ops)  # lookups the checkers share, each built once
    try:
        stats = compute_stats(ops, index)
    except Exception as exc:  # a crashing checker yields unknown, never a pass
        errors.append(f"stats: {type(exc).__name__}: {exc}")
    try:
        findings = check_lost_updates(ops, initial, final, index)
        anomalies, lost, acknowledged = findings.anomalies, findings.lost_writes, findings.acknowledged
    except Exception as exc:
        errors.append(f"lost-update: {type(exc).__name__}: {exc}")
    try:
        violations = check_invariants(ops, initial, token, index)
    except Exception as exc:
        errors.append(f"invariants: {type(exc).__name__}: {exc}")
    try:
        anomalies = anomalies + check_declared(ops, final, invariants or {})
    except Exception as exc:
        errors.append(f"declared invariants: {exc}")

    verdict: Verdict
    if any(a.kind in failing_kinds() for a in anomalies):
        verdict = "lost-updates"
    elif (
        errors
        or (stats.raced_writes == 0 and stats.conflicts == 0 and stats.same_read_pairs == 0)
        or stats.ok == 0
        or any(a.kind == "counter-undecided" for a in anomalies)
    ):
        # no contention: the race never had a chance to happen; nothing acknowledged: nothing could be lost;
        # undecided: unknown outcomes may hide a loss
        verdict = "inconclusive"
    else:
        verdict = "no-lost-updates"
    return CheckResult(verdict, lost, acknowledged, anomalies, violations, stats, errors)


__all__ = ["Anomaly", "CheckResult", "Stats", "Token", "Verdict", "check"]
