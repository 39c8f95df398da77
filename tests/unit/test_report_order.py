"""Database columns of a merged report: by engine, then by version as numbers."""

from __future__ import annotations

from race_harness.report.merge import database_order


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
