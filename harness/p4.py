"""The lost-update anomaly (P4) per database x isolation level x transaction scope, Hermitage style.

For each cell, a plain read-modify-write (``full-row``) on the hot-row counter either loses updates
or the database refuses one of the racing transactions with an error, which the table names.
Other strategies can be run through the same grid. What Hermitage documents is encoded in
:func:`documented` so that a disagreement shows in the table and fails the tests.

MariaDB's ``innodb_snapshot_isolation`` (10.6.18+, default ON from 11.6.2) gets its own columns,
OFF and ON, on servers that have the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from race_harness.databases.base import Backend, Isolation
from race_harness.databases.mysql import MySQLBackend
from race_harness.matrix import CellResult, run_cell
from race_harness.report.terminal import plain_table
from race_harness.runner import SCOPES, RunConfig, Scope
from race_harness.scenario import get_scenario
from race_harness.strategies.base import Strategy

PLAIN_RMW = "full-row"
SNAPSHOT_VARIABLE = "innodb_snapshot_isolation"


@dataclass(frozen=True)
class Documented:
    lost: bool
    errors: tuple[str, ...] = ()  # the harness's reasons a refused transaction may be given, any of them
    source: str = "Hermitage"


def documented(backend: Backend, isolation: Isolation, scope: Scope) -> Documented | None:
    """What Hermitage (and MariaDB's documentation, for snapshot isolation) says a plain RMW does."""
    if scope == "separate":
        return Documented(True, source="no isolation level spans two transactions")
    backend = backend.server  # a server in a container is judged as that server
    if backend.family == "postgresql":
        return Documented(True) if isolation == "read-committed" else Documented(False, ("serialization",))
    if backend.family == "sqlite":
        return Documented(False, ("busy",), "SQLite: a deferred transaction cannot upgrade past a newer commit")
    if isinstance(backend, MySQLBackend):
        snapshot = backend.effective_variable(SNAPSHOT_VARIABLE) in ("ON", "1")
        if isolation == "serializable":
            if snapshot:
                # SERIALIZABLE makes the read a shared-lock read: two readers both upgrading is a deadlock
                # (1213), and with snapshot isolation a locking read of a row changed since the read view is
                # refused (1020). One run has both, near 60:40 on MariaDB 10.11.19, so either may lead.
                return Documented(False, ("deadlock", "serialization"), "Hermitage; MariaDB innodb_snapshot_isolation")
            return Documented(False, ("deadlock",))
        if isolation == "repeatable-read" and snapshot:
            return Documented(False, ("serialization",), "MariaDB innodb_snapshot_isolation")
        return Documented(True)
    return None


ERROR_CODES = {
    ("postgresql", "serialization"): "40001",
    ("postgresql", "deadlock"): "40P01",
    ("mysql", "deadlock"): "1213",
    ("mysql", "lock-timeout"): "1205",
    ("mysql", "serialization"): "1020",
    ("sqlite", "busy"): "SQLITE_BUSY",
}


def columns(backends: Sequence[Backend]) -> list[Backend]:
    """The databases as table columns; a MariaDB with snapshot isolation becomes two."""
    out: list[Backend] = []
    for b in backends:
        if isinstance(b, MySQLBackend) and SNAPSHOT_VARIABLE not in b.session and b.server_variable(SNAPSHOT_VARIABLE):
            out += [b.with_session(**{SNAPSHOT_VARIABLE: "OFF"}), b.with_session(**{SNAPSHOT_VARIABLE: "ON"})]
        else:
            out.append(b)
    return out


@dataclass
class P4Cell:
    backend: Backend
    isolation: Isolation
    scope: Scope
    strategy: str
    cell: CellResult
    expected: Documented | None

    @property
    def lost(self) -> bool | None:
        return None if self.cell.result is None else self.cell.shown == "lost"

    @property
    def refusals(self) -> list[str]:
        """What stopped racing writes, most frequent first: database errors, or the strategy's own conflict check."""
        if self.cell.result is None:
            return []
        reasons = self.cell.result.stats.fail_reasons
        return sorted(reasons, key=lambda k: -reasons[k])

    @property
    def refusal(self) -> str | None:
        """The most frequent of :attr:`refusals`."""
        return next(iter(self.refusals), None)

    @property
    def agrees(self) -> bool | None:
        if self.expected is None or self.strategy != PLAIN_RMW or self.cell.result is None:
            return None
        if self.expected.lost:
            return self.lost is True
        return self.lost is False and self.refusal in self.expected.errors and self.cell.shown == "none"

    def text(self) -> str:
        if self.cell.result is None:
            return "n/a"
        r = self.cell.result
        if self.cell.shown == "lost":
            out = f"lost {r.lost_writes}/{r.acknowledged}"
        elif self.cell.shown == "none":
            codes = [ERROR_CODES.get((self.backend.family, r), r) for r in self.refusals]
            out = f"refused ({', '.join(codes)})" if codes else "none (waited)"
        else:
            out = self.cell.shown
        return out + (" !" if self.agrees is False else "")


Progress = Callable[[int, int, str], None]


def run_p4(
    backends: Sequence[Backend],
    strategies: Sequence[Strategy],
    config: RunConfig,
    progress: Progress | None = None,
) -> list[P4Cell]:
    scenario = get_scenario("counter")
    grid = [
        (b, iso, scope, st)
        for b in columns(backends)
        for iso in b.isolation_levels
        for scope in SCOPES
        for st in strategies
        # a strategy that fixes its own scope or isolation only has cells where the grid agrees with it
        if st.scope in (None, scope) and st.isolation in (None, iso)
    ]
    cells = []
    for i, (backend, isolation, scope, strategy) in enumerate(grid, 1):
        if progress:
            progress(i, len(grid), f"{strategy.spec} x {backend.label} [{isolation}, {scope}]")
        cell = run_cell(scenario, strategy, backend, replace(config, isolation=isolation, scope=scope))
        cells.append(P4Cell(backend, isolation, scope, strategy.spec, cell, documented(backend, isolation, scope)))
    return cells


def format_p4(cells: Sequence[P4Cell]) -> str:
    labels = list(dict.fromkeys(c.backend.label for c in cells))
    keys = list(dict.fromkeys((c.strategy, c.isolation, c.scope) for c in cells))
    by = {(c.strategy, c.isolation, c.scope, c.backend.label): c for c in cells}
    header = ["strategy", "isolation", "scope", *labels]
    rows = [header]
    for strategy, isolation, scope in keys:
        row = [strategy, isolation, scope]
        for label in labels:
            cell = by.get((strategy, isolation, scope, label))
            row.append(cell.text() if cell else "-")
        rows.append(row)
    return plain_table(rows)


P4_LEGEND = (
    "P4 (lost update) on the hot-row counter: lost N/M = N of M acknowledged increments lost;\n"
    "refused (codes) = nothing lost, the database aborted racing transactions with those errors, most frequent\n"
    "first (40001 serialization failure, 1213 deadlock, 1020 record changed since last read, SQLITE_BUSY;\n"
    "conflict = the strategy's own check); none (waited) = nothing lost, nothing refused: writers queued on a\n"
    "lock. ' !' = the plain read-modify-write (full-row) disagrees with what Hermitage documents. scope\n"
    "separate = read and write in two transactions; '-' = not run: the strategy fixes that scope or isolation."
)

__all__ = ["P4_LEGEND", "Documented", "P4Cell", "columns", "documented", "format_p4", "run_p4"]
