"""What a database held when the application's schema was made in it, to give it back exactly that.

PostgreSQL's (:class:`Pristine`) here; MySQL/MariaDB's and SQLite's are beside their backends.
Each repetition of a schedule, each exploration's interleaving and, on a server, each cell after the
first starts from it: the schema's own rows (a data migration's) and counters as the migrations
left them, nothing a run wrote.

For PostgreSQL:
A copy a run has used is reset instead of being dropped and copied again (the copy costs about half
of the migrations: every relation's files are made and synced). The reset empties every table with
DELETE, children before parents (TRUNCATE makes new files: as slow as the copy), writes back the
rows the template had (a data migration's) with COPY, which carries every type as the server
prints it, and puts every sequence back where it was.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass

from sqlalchemy import Connection, text

from race_harness.databases.base import like_prefix
from race_harness.databases.templates import OWN_TABLE_PREFIX

_TABLES = f"""
SELECT c.oid::int, format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE '{like_prefix("pg_")}%'
  AND c.relname NOT LIKE '{like_prefix(OWN_TABLE_PREFIX)}%'
ORDER BY 2
"""
# the harness's own tables in an application's database (a cell's receipts): a cell's, never a template's
_OWN = (
    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
    f"WHERE tablename LIKE '{like_prefix(OWN_TABLE_PREFIX)}%'"
)
# a partitioned table has no storage of its own: it counts as used (DELETE reaches its partitions)
_TABLE_PAGES = f"""
SELECT name, c.relkind = 'p' OR pg_relation_size(c.oid) > 0
FROM ({_TABLES}) AS t(oid, name) JOIN pg_class c ON c.oid = t.oid
"""
_REFERENCES = "SELECT conrelid::int, confrelid::int FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid"
_SEQUENCES = """
SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value), last_value IS NOT NULL
FROM pg_sequences ORDER BY 1
"""

__all__ = ["Pristine"]


@dataclass(frozen=True)
class Pristine:
    tables: tuple[str, ...]  # children before the parents they refer to, where foreign keys allow an order
    ordered: bool  # False: the references make a cycle, so every table is emptied by one TRUNCATE
    rows: dict[str, bytes]  # the tables that have rows, in COPY's text format
    sequences: tuple[tuple[str, int, bool], ...]

    @classmethod
    def read(cls, conn: Connection) -> Pristine:
        names = {oid: name for oid, name in conn.execute(text(_TABLES))}
        graph: dict[str, set[str]] = {name: set() for name in names.values()}
        for child, parent in conn.execute(text(_REFERENCES)):
            if child in names and parent in names:
                graph[names[parent]].add(names[child])  # a parent is emptied after its children
        try:
            tables, ordered = tuple(graphlib.TopologicalSorter(graph).static_order()), True
        except graphlib.CycleError:
            tables, ordered = tuple(sorted(graph)), False
        rows = {t: _copy_out(conn, t) for t in _with_rows(conn, tables)}
        sequences = tuple(_sequences(conn))
        conn.rollback()
        return cls(tables, ordered, rows, sequences)

    def restore(self, conn: Connection) -> bool:
        """Empty ``conn``'s database and write back what the fresh copy held; False when its tables
        are not the template's any more (a run made or dropped some): a fresh copy is needed."""
        with conn.begin():
            for (own,) in conn.execute(text(_OWN)).all():
                _run(conn, f"DROP TABLE {own}")
            # a table that never held a row has no page on disk (its size is a stat of its file, no
            # scan): only the others are emptied; the same query says which tables there are
            sizes = {str(name): bool(pages) for name, pages in conn.execute(text(_TABLE_PAGES))}
            if sorted(sizes) != sorted(self.tables):
                return False
            used = {name for name, pages in sizes.items() if pages}
            if self.ordered:
                for table in self.tables:
                    if table in used:
                        _run(conn, f"DELETE FROM {table}")
            elif used:
                _run(conn, f"TRUNCATE {', '.join(self.tables)}")
            for table in reversed(self.tables):  # parents first
                if table in self.rows:
                    _copy_in(conn, table, self.rows[table])
            now = set(_sequences(conn))
            moved = [s for s in self.sequences if s not in now]
            if moved:
                calls = ", ".join(f"setval('{n}', {v}, {'true' if c else 'false'})" for n, v, c in moved)
                _run(conn, f"SELECT {calls}")
        return True


def _sequences(conn: Connection) -> list[tuple[str, int, bool]]:
    return [(str(n), int(v), bool(c)) for n, v, c in conn.execute(text(_SEQUENCES))]


def _run(conn: Connection, statement: str) -> None:
    conn.exec_driver_sql(statement.replace("%", "%%"))  # psycopg formats with "%": a name may hold one


def _with_rows(conn: Connection, tables: tuple[str, ...]) -> list[str]:
    if not tables:
        return []
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)
    return [str(r[0]) for r in conn.exec_driver_sql(probe.replace("%", "%%"))]


def _copy_out(conn: Connection, table: str) -> bytes:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} TO STDOUT") as copy:
        return b"".join(bytes(chunk) for chunk in copy)


def _copy_in(conn: Connection, table: str, data: bytes) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
        copy.write(data)
