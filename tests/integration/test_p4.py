"""The P4 (lost update) table on real servers must agree with what Hermitage documents.

A plain read-modify-write in ONE transaction: PostgreSQL loses updates only at READ COMMITTED and
refuses with 40001 above it; InnoDB loses them at READ COMMITTED and REPEATABLE READ and makes one
side a deadlock victim (1213) at SERIALIZABLE; MariaDB's innodb_snapshot_isolation=ON turns
REPEATABLE READ into error 1020, and at SERIALIZABLE refuses with 1213 and 1020, either the more
frequent; SQLite refuses with SQLITE_BUSY. In two transactions every database at every level loses
updates.
"""

from __future__ import annotations

import pytest

from race_harness import RunConfig, get_scenario, get_strategy
from race_harness.databases import Backend
from race_harness.databases.mysql import MySQLBackend
from race_harness.matrix import run_cell
from race_harness.p4 import SNAPSHOT_VARIABLE, P4Cell, documented
from race_harness.runner import ISOLATIONS, SCOPES

from .conftest import get_backend

ROUNDS = 4
# "mysql" is the server as configured (MySQL proper has no snapshot variable; MariaDB 11.6.2+ defaults it ON)
COLUMNS = ["postgres", "mysql", "mysql snapshot OFF", "mysql snapshot ON", "sqlite", "container:mysql:9"]
CELLS = [
    (name, isolation, scope)
    for name in COLUMNS
    for isolation in (("serializable",) if name == "sqlite" else ISOLATIONS)  # SQLite has only serializable
    for scope in SCOPES
]


def column(name: str) -> Backend:
    if not name.startswith("mysql "):
        return get_backend(name)
    server = get_backend("mysql")
    assert isinstance(server, MySQLBackend)
    if server.server_variable(SNAPSHOT_VARIABLE) is None:
        pytest.skip(f"{server.label} has no {SNAPSHOT_VARIABLE} (MariaDB 10.6.18+ has it)")
    return server.with_session(**{SNAPSHOT_VARIABLE: name.rsplit(" ", 1)[1]})


@pytest.mark.parametrize(("name", "isolation", "scope"), CELLS)
def test_plain_read_modify_write_matches_hermitage(name: str, isolation: str, scope: str) -> None:
    backend = column(name)
    assert isolation in backend.isolation_levels
    expected = documented(backend, isolation, scope)  # type: ignore[arg-type]
    assert expected is not None
    config = RunConfig(writers=8, readers=0, ops=120, isolation=isolation, scope=scope)  # type: ignore[arg-type]
    seen = []
    for _ in range(ROUNDS):
        cell = run_cell(get_scenario("counter"), get_strategy("full-row"), backend, config)
        assert cell.plan is not None and (cell.plan.isolation, cell.plan.scope) == (isolation, scope)
        p4 = P4Cell(backend, isolation, scope, "full-row", cell, expected)  # type: ignore[arg-type]
        seen.append(p4.text())
        if p4.agrees:
            if not expected.lost:  # refused: the race happened and the database stopped it
                assert cell.result is not None and cell.result.stats.conflicts > 0
            return
        assert expected.lost, f"documented as refused ({expected.errors}) but got {p4.text()}"
    pytest.fail(f"{backend.label} {isolation} {scope}: expected {expected}, saw {seen}")
