"""Checkers: pure functions from (history, initial state, final state) to a verdict with evidence.

They never touch a database. As in Jepsen, a checker that crashes does not sink the run: its error
is recorded and the verdict cannot be a pass. They read the history as columns
(:class:`race_harness.optable.OpTable`): a recorded ``History`` has them ready, a list of operations is
turned into them first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from race_harness.checkers.invariants import Predicate, Token, check_declared, check_invariants
from race_harness.checkers.lost_update import check_lost_updates
from race_harness.checkers.result import FAILING_KINDS, Anomaly, CheckResult, Stats, Verdict
from race_harness.checkers.stats import compute_stats
from race_harness.events import Operation
from race_harness.history import History
from race_harness.model import State
from race_harness.optable import OpTable


def check(
    ops: History | OpTable | Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    *,
    token: Token | None = None,
    invariants: Mapping[str, Predicate] | None = None,
) -> CheckResult:
    """Judge one run. ``token`` names the concurrency token the strategy promises to maintain;
    ``invariants`` are the scenario's own, checked on every read and the final state.

    The checkers compose as Jepsen's do: any failing finding (a lost update, a change applied twice,
    a broken declared invariant) fails the verdict; a checker that crashes makes it unknown
    (inconclusive), never a pass. Pass the ``History`` itself where there is one: its columns were
    built while it was recorded.
    """
    errors: list[str] = []
    stats = Stats()
    anomalies: list[Anomaly] = []
    violations: list[Anomaly] = []
    lost = acknowledged = 0
    table = ops.table() if isinstance(ops, History) else ops if isinstance(ops, OpTable) else OpTable.of(ops)
    try:
        stats = compute_stats(table)
    except Exception as exc:  # a crashing checker yields unknown, never a pass
        errors.append(f"stats: {type(exc).__name__}: {exc}")
    try:
        findings = check_lost_updates(table, initial, final)
        anomalies, lost, acknowledged = findings.anomalies, findings.lost_writes, findings.acknowledged
    except Exception as exc:
        errors.append(f"lost-update: {type(exc).__name__}: {exc}")
    try:
        violations = check_invariants(table, initial, token)
    except Exception as exc:
        errors.append(f"invariants: {type(exc).__name__}: {exc}")
    try:
        anomalies = anomalies + check_declared(table, final, invariants or {})
    except Exception as exc:
        errors.append(f"declared invariants: {exc}")

    verdict: Verdict
    if any(a.kind in FAILING_KINDS for a in anomalies):
        verdict = "lost-updates"
    elif errors or not contended(stats) or stats.ok == 0 or any(a.kind == "counter-undecided" for a in anomalies):
        # no contention: the race never had a chance to happen; no write acknowledged: nothing could be
        # lost (every write failing is a broken run, not a safe one); undecided: unknown outcomes may hide a loss
        verdict = "inconclusive"
    else:
        verdict = "no-lost-updates"
    return CheckResult(verdict, lost, acknowledged, anomalies, violations, stats, errors)


def contended(stats: Stats) -> bool:
    """The race had its chance, by the history's own signs: a write saw another one acknowledged while
    it ran, or a save was refused or aborted (a concurrent write made it stale), or two acknowledged
    writes read the same version. Refusals and same reads count too because an acknowledgement's
    time is taken after its COMMIT returns: on a loaded machine it can land after the write it beat."""
    return stats.raced_writes > 0 or stats.conflicts > 0 or stats.same_read_pairs > 0


__all__ = ["Anomaly", "CheckResult", "Predicate", "Stats", "Token", "Verdict", "check", "contended"]
