"""Where databases come from: the ``--db`` specs a user can give.

- ``embedded`` (default): ``embedded-postgres`` and ``sqlite``, nothing to install or start
- ``embedded-postgres``, ``sqlite``
- ``postgres`` / ``mysql``: the URL in ``RACE_HARNESS_POSTGRES_URL`` / ``RACE_HARNESS_MYSQL_URL``
- a URL: ``postgresql://user:pw@host:5432/admin_db``, ``mysql://root@host:3306/test``, ``mariadb://...``

A server URL names an *admin* database the harness connects to in order to create its own scratch
databases; the harness never writes to the database the URL names.
"""

from __future__ import annotations

import os

from race_harness.databases.base import Backend
from race_harness.databases.embedded import EmbeddedPostgresBackend
from race_harness.databases.mysql import MySQLBackend
from race_harness.databases.postgres import PostgresBackend
from race_harness.databases.sqlite import SQLiteBackend
from race_harness.databases.urls import mask_url, parse_server_url
from race_harness.errors import UnknownNameError, UsageError

ENV_URLS = {"postgres": "RACE_HARNESS_POSTGRES_URL", "mysql": "RACE_HARNESS_MYSQL_URL"}
EXAMPLES = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
ALIASES = {"postgresql": "postgres", "mariadb": "mysql"}
NAMES = ["embedded", "embedded-postgres", "pgserver", "sqlite", "postgres", "mysql", "container:IMAGE"]
DEFAULT_DBS = ("embedded",)


# server variables a MySQL/MariaDB URL may carry in its query, set on every connection of the runs
SESSION_VARIABLES = ("innodb_snapshot_isolation",)


def backend_for_url(text: str, source: str | None = None) -> Backend:
    url = parse_server_url(text)
    backend: Backend
    if url.get_backend_name() == "postgresql":
        backend = PostgresBackend(url, source)
    else:
        session = {k: str(v) for k, v in url.query.items() if k in SESSION_VARIABLES}
        backend = MySQLBackend(url.difference_update_query(SESSION_VARIABLES), source, session)
    backend.spec = mask_url(text)
    return backend


def resolve(spec: str) -> list[Backend]:
    """One ``--db`` value -> the backends it names (not yet started)."""
    if spec.startswith("container:"):
        from race_harness.databases.containers import ContainerBackend

        return [ContainerBackend(spec.removeprefix("container:"))]
    if "://" in spec:
        return [backend_for_url(spec)]
    name = ALIASES.get(spec, spec)
    if name == "embedded":
        return [EmbeddedPostgresBackend(), SQLiteBackend()]
    if name == "embedded-postgres":
        return [EmbeddedPostgresBackend()]
    if name == "pgserver":
        return [EmbeddedPostgresBackend("pgserver")]
    if name == "sqlite":
        return [SQLiteBackend()]
    if name in ENV_URLS:
        var = ENV_URLS[name]
        value = os.environ.get(var)
        if not value:
            raise UsageError(
                f"--db {spec} reads its URL from ${var}, which is not set; expected e.g. {var}={EXAMPLES[name]}"
            )
        backend = backend_for_url(value)
        backend.source = f"${var} ({backend.source})"
        backend.spec = name
        return [backend]
    raise UnknownNameError("database", spec, [*NAMES, "a postgresql:// or mysql:// URL"])


def resolve_all(specs: list[str]) -> list[Backend]:
    out: list[Backend] = []
    for spec in specs:
        out.extend(resolve(spec))
    return out
