"""A merged report's order and headline: database columns by engine, then version as numbers; rows
grouped by scenario; each cell's standing counted once."""

from __future__ import annotations

from pathlib import Path

from race_harness.report.merge import Merged, ReportCell, database_order
from race_harness.tally import Judged, describe, tally


def test_versions_sort_as_numbers_within_an_engine() -> None:
    labels = [
        "mariadb 10.11.10",
        "postgresql 9.6.24",
        "mariadb 10.6.20",
        "postgresql 18.6 (embedded)",
        "postgresql 15.20",
        "mysql 8.0.40",
        "mariadb 11.4.4",
        "postgresql 15.20 (container)",
        "sqlite 3.40.1",
    ]
    assert sorted(labels, key=database_order) == [
        "mariadb 10.6.20",
        "mariadb 10.11.10",
        "mariadb 11.4.4",
        "mysql 8.0.40",
        "postgresql 9.6.24",
        "postgresql 15.20",
        "postgresql 15.20 (container)",
        "postgresql 18.6 (embedded)",
        "sqlite 3.40.1",
    ]


def _cell(scenario: str, strategy: str, database: str, expected: str, outcome: str) -> ReportCell:
    data = {"scenario": scenario, "strategy": strategy, "database": database, "expected": expected, "outcome": outcome}
    return ReportCell(data, Path("results.json"), "")


def test_a_strategy_only_a_later_file_has_keeps_its_place_in_its_scenario_group() -> None:
    """A regression found by a newer run (a strategy the older files lack) sits with its scenario's rows,
    not after every other scenario at the bottom of the matrix."""
    first = [
        _cell(s, st, "sqlite 3.40.1", "none", "none")
        for s in ("counter", "glance", "nova")
        for st in ("full-row", "version-occ")
    ]
    later = _cell("counter", "new-strategy", "postgresql 15.20", "none", "lost")
    merged = Merged([*first, later], [Path("a.json"), Path("b.json")])
    assert [row[:2] for row in merged.rows] == [
        ("counter", "full-row"),
        ("counter", "version-occ"),
        ("counter", "new-strategy"),
        ("glance", "full-row"),
        ("glance", "version-occ"),
        ("nova", "full-row"),
        ("nova", "version-occ"),
    ]


def test_the_headline_counts_each_standing_once() -> None:
    cells = [
        Judged("a", "lost", "lost"),
        Judged("b", "none", "none"),
        Judged("c", "none", "lost", "lost 3/50"),
        Judged("d", "lost", "none"),
        Judged("e", "none", "inconclusive"),
        Judged("f", None, "inconclusive"),
        Judged("g", None, "lost"),
        Judged("h", "n/a", "n/a"),
    ]
    counted = tally(cells)
    assert counted.text() == (
        "8 cells: 1 lost as declared, 1 none as declared, 2 differ, 2 inconclusive, 1 not declared, 1 not run"
    )
    assert [j.name for j in counted.failing] == ["c", "d", "e"]
    assert describe(counted.failing[0]) == "differs: c: declared none, came out lost 3/50"
    assert describe(counted.failing[2]) == "inconclusive: e: declared none, came out inconclusive"
    assert counted.exit_code() == 1  # a declared-safe loss first, then unproven (3), then not reproduced (5)
    assert tally([cells[3], cells[4]]).exit_code() == 3
    assert tally([cells[3]]).exit_code() == 5
    assert tally(cells[:2]).exit_code() == 0 and tally(cells[:2]).text().endswith("0 differ, 0 inconclusive")
