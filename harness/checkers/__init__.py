"""Checkers: pure functions from (history, initial state, final state) to a verdict with evidence.

They never touch a database. As in Jepsen, each is a named :class:`Checker` and :func:`compose`
makes one of several: a checker that crashes does not sink the run, its error is recorded and the
verdict cannot be a pass. They read the history as columns
(:class:`race_harness.optable.OpTable`): a recorded ``History`` has them ready, a list of operations is
turned into them first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from race_harness.checkers.invariants import Predicate, Token, check_declared, check_invariants
from race_harness.checkers.lost_update import check_lost_updates
from race_harness.checkers.result import FAILING_KINDS, Anomaly, CheckResult, Stats, Verdict
from race_harness.checkers.stats import compute_stats
from race_harness.events import Operation
from race_harness.history import History
from race_harness.model import State
from race_harness.optable import OpTable


@dataclass(frozen=True)
class Inputs:
    """What every checker is given: the history as columns, the states before and after, and what
    the scenario and strategy promise."""

    table: OpTable
    initial: Mapping[int, State]
    final: Mapping[int, State]
    token: Token | None = None
    invariants: Mapping[str, Predicate] = field(default_factory=dict)


@dataclass(frozen=True)
class Findings:
    """One checker's part of a verdict; the composition adds the parts up."""

    anomalies: Sequence[Anomaly] = ()
    violations: Sequence[Anomaly] = ()
    stats: Stats | None = None
    lost_writes: int = 0
    acknowledged: int = 0


@dataclass(frozen=True)
class Checker:
    """A named checker (Jepsen's ``checker`` protocol): a pure function of the inputs. A new kind of
    check is a new one of these, given to :func:`check` or added to :data:`CHECKERS`."""

    name: str
    run: Callable[[Inputs], Findings]
    # how an error of this checker reads: with its type, unless its message says all (a predicate's)
    quote_type: bool = True
    # the kinds of its findings that fail the verdict (the built-in kinds in FAILING_KINDS always do)
    fails_on: frozenset[str] = frozenset()


def _stats(i: Inputs) -> Findings:
    return Findings(stats=compute_stats(i.table))


def _lost_updates(i: Inputs) -> Findings:
    found = check_lost_updates(i.table, i.initial, i.final)
    return Findings(anomalies=found.anomalies, lost_writes=found.lost_writes, acknowledged=found.acknowledged)


def _token_invariants(i: Inputs) -> Findings:
    return Findings(violations=check_invariants(i.table, i.initial, i.token))


def _declared_invariants(i: Inputs) -> Findings:
    return Findings(anomalies=check_declared(i.table, i.final, i.invariants))


CHECKERS: tuple[Checker, ...] = (
    Checker("stats", _stats),
    Checker("lost-update", _lost_updates),
    Checker("invariants", _token_invariants),
    Checker("declared invariants", _declared_invariants, quote_type=False),
)


def check(
    ops: History | OpTable | Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    *,
    token: Token | None = None,
    invariants: Mapping[str, Predicate] | None = None,
    checkers: Sequence[Checker] = CHECKERS,
) -> CheckResult:
    """Judge one run. ``token`` names the concurrency token the strategy promises to maintain;
    ``invariants`` are the scenario's own, checked on every read and the final state.

    The checkers compose as Jepsen's do (:func:`compose`). Pass the ``History`` itself where there is
    one: its columns were built while it was recorded.
    """
    table = ops.table() if isinstance(ops, History) else ops if isinstance(ops, OpTable) else OpTable.of(ops)
    return compose(checkers)(Inputs(table, initial, final, token, invariants or {}))


def compose(checkers: Sequence[Checker]) -> Callable[[Inputs], CheckResult]:
    """One checker of several (Jepsen's ``compose`` with ``check-safe``): each runs on the same
    inputs, and a checker that crashes is recorded and makes the verdict unknown (inconclusive),
    never a pass. Any failing finding (a lost update, a change applied twice, a broken declared
    invariant) fails the verdict."""

    def run(inputs: Inputs) -> CheckResult:
        errors: list[str] = []
        parts: list[Findings] = []
        for checker in checkers:
            try:
                parts.append(checker.run(inputs))
            except Exception as exc:  # a crashing checker yields unknown, never a pass
                said = f"{type(exc).__name__}: {exc}" if checker.quote_type else str(exc)
                errors.append(f"{checker.name}: {said}")
        anomalies = [a for part in parts for a in part.anomalies]
        stats = next((part.stats for part in parts if part.stats is not None), Stats())
        failing = tuple(sorted({kind for c in checkers for kind in c.fails_on} - FAILING_KINDS))
        return CheckResult(
            _verdict(anomalies, stats, errors, FAILING_KINDS | set(failing)),
            sum(part.lost_writes for part in parts),
            sum(part.acknowledged for part in parts),
            anomalies,
            [v for part in parts for v in part.violations],
            stats,
            errors,
            failing,
        )

    return run


def _verdict(anomalies: Sequence[Anomaly], stats: Stats, errors: Sequence[str], failing: Set[str]) -> Verdict:
    if any(a.kind in failing for a in anomalies):
        return "lost-updates"
    if errors or not contended(stats) or stats.ok == 0 or any(a.kind == "counter-undecided" for a in anomalies):
        # no contention: the race never had a chance to happen; no write acknowledged: nothing could be
        # lost (every write failing is a broken run, not a safe one); undecided: unknown outcomes may hide a loss
        return "inconclusive"
    return "no-lost-updates"


def contended(stats: Stats) -> bool:
    """The race had its chance, by the history's own signs: a write saw another one acknowledged while
    it ran, or a save was refused or aborted (a concurrent write made it stale), or two acknowledged
    writes read the same version. Refusals and same reads count too because an acknowledgement's
    time is taken after its COMMIT returns: on a loaded machine it can land after the write it beat."""
    return stats.raced_writes > 0 or stats.conflicts > 0 or stats.same_read_pairs > 0


__all__ = [
    "CHECKERS",
    "Anomaly",
    "CheckResult",
    "Checker",
    "Findings",
    "Inputs",
    "Predicate",
    "Stats",
    "Token",
    "Verdict",
    "check",
    "compose",
    "contended",
]
