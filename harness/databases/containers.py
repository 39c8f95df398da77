"""Throwaway database servers in containers, through testcontainers: ``container:IMAGE``.

``container:postgres:16``, ``container:mysql:8.0``, ``container:mariadb:11.4`` (any image and tag of
those three families) start a server, wait until it accepts connections, hand the harness its URL
and remove the container when the run ends, also on error or Ctrl-C. Without a reachable Docker
engine (or podman's Docker-compatible socket in ``DOCKER_HOST``) the provider says so in one line,
after a short bounded check: it never hangs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Backend, Isolation, ScratchDatabase, ServerBackend
from race_harness.databases.creators import Creator, creator_of_tag, own_tag
from race_harness.databases.mysql import MySQLBackend
from race_harness.databases.postgres import PostgresBackend
from race_harness.databases.templates import SchemaTemplate
from race_harness.databases.watchdog import CONTAINERS, Guard
from race_harness.errors import DatabaseError, DatabaseUnreachableError, UsageError
from race_harness.report.text import note

ENGINE_TIMEOUT_S = 5
RESTART_S = 60  # a restarted container's server answers again within this, or the fault failed
LABEL = "race-harness"  # every container the harness starts carries it; tests look for leftovers by it
PID_LABEL = "race-harness.pid"  # ... and the id of the process that started it
CREATOR_LABEL = "race-harness.creator"  # ... and that process as a creator (creators.own_tag)
GUARD_LABEL = "race-harness.guard"  # ... and a token of its backend's own, what the backend's guard removes
FAMILIES = ("postgres", "mysql", "mariadb")


def family_of(image: str) -> str:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    for family in FAMILIES:
        if family in name:
            return family
    raise UsageError(
        f"expected a postgres, mysql or mariadb image after container: but got {image!r} "
        f"(e.g. container:postgres:16, container:mysql:8.0, container:mariadb:11.4)"
    )


def engine_problem() -> str | None:
    """Why no container can be started here (one line), or None when an engine answers."""
    try:
        import docker
    except ImportError:
        return "testcontainers is not installed (pip install 'race-harness[containers]')"
    where = os.environ.get("DOCKER_HOST") or "the default Docker socket"
    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return f"no Docker engine answers at {where} ({reason}); container:IMAGE needs Docker or podman's socket"
    return None


def sweep_containers() -> tuple[list[str], list[tuple[str, Creator | None]]]:
    """Remove the containers of race-harness runs whose creators are provably gone (a run killed
    with SIGKILL before its guard could act, an engine that did not answer the guard); (removed
    names, kept names with their creators). Containers of live runs, of other hosts, or without a
    creator label (an older race-harness) are never touched. Needs an answering engine."""
    import docker

    client = docker.from_env(timeout=ENGINE_TIMEOUT_S)
    removed: list[str] = []
    kept: list[tuple[str, Creator | None]] = []
    try:
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            creator = creator_of_tag(container.labels.get(CREATOR_LABEL, ""))
            if creator is not None and creator.gone:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)
                removed.append(container.name)
            else:
                kept.append((container.name, creator))
    finally:
        client.close()
    return removed, kept


class ContainerBackend(Backend):
    """A database server in a container this run starts and removes; delegates to the real backend."""

    def __init__(self, image: str) -> None:
        super().__init__(f"container:{image}")
        self.image = image
        self.kind = family_of(image)
        self.family = "postgresql" if self.kind == "postgres" else "mysql"  # type: ignore[misc]
        self._container: Any = None
        self._server: Backend | None = None
        self._label: str | None = None
        self._guard: Guard | None = None  # removes the container if this process dies without doing so

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        problem = engine_problem()
        if problem:
            raise DatabaseUnreachableError(problem)
        removed, _ = sweep_containers()
        if removed:
            note(
                f"race-harness: removed {len(removed)} container(s) whose creators ended without cleaning up: "
                f"{', '.join(removed)}"
            )
        password = secrets.token_hex(8)
        if self.kind == "postgres":
            from testcontainers.community.postgres import PostgresContainer

            container: Any = PostgresContainer(
                self.image, username="postgres", password=password, dbname="postgres", driver="psycopg"
            )
        else:
            from testcontainers.community.mysql import MySqlContainer

            container = MySqlContainer(
                self.image, username="root", root_password=password, password=password, dbname="test", dialect="pymysql"
            )
        token = secrets.token_hex(6)
        container.with_kwargs(
            labels={LABEL: "1", PID_LABEL: str(os.getpid()), CREATOR_LABEL: own_tag(), GUARD_LABEL: token}
        )
        # before the container exists: a SIGKILL while it starts must not leave it either
        self._guard = Guard(f"{CONTAINERS}{GUARD_LABEL}={token}")
        try:
            container.start()
        except Exception as exc:
            _remove(container)
            self._guard.release()  # finds what _remove could not
            self._guard = None
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise DatabaseUnreachableError(f"container {self.image} did not become ready: {first}") from None
        self._container = container
        url = make_url(container.get_connection_url())
        if self.kind == "postgres":
            self._server = PostgresBackend(url, self.source)
        else:
            self._server = MySQLBackend(
                url.set(drivername="mariadb+pymysql" if self.kind == "mariadb" else "mysql+pymysql"), self.source
            )
        self._server.lock_timeout_s = self.lock_timeout_s
        self._server.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._container is not None:
            _remove(self._container)
            self._container = None
        if self._guard is not None:
            self._guard.release()
            self._guard = None

    # --- everything else is the server's -----------------------------------------------------------

    @property
    def server(self) -> Backend:
        self.start()
        assert self._server is not None
        return self._server

    @property
    def label(self) -> str:
        # kept once known: asked after close() (a table printed after clean-up), .server would start
        # a new container only to name it, and that one would be left behind
        if self._label is None:
            self._label = f"{self.server.label} (container)"
        return self._label

    @property
    def isolation_levels(self) -> tuple[Isolation, ...]:  # type: ignore[override]
        return self.server.isolation_levels

    @property
    def default_isolation(self) -> Isolation:  # type: ignore[override]
        return self.server.default_isolation

    def fetch_version(self) -> str:
        return self.server.version

    def create_database(self, name: str | None = None) -> ScratchDatabase:
        return self.server.create_database(name)

    def scratch_for(self, key: str | None, template: SchemaTemplate | None = None) -> ScratchDatabase:
        return self.server.scratch_for(key, template)

    def template_names(self) -> list[str]:
        return self.server.template_names()

    def drop_template(self, name: str) -> None:
        self.server.drop_template(name)

    def remember(self, key: str, database: str) -> None:
        self.server.remember(key, database)

    def reset_copy(self, key: str, database: str) -> bool:
        return self.server.reset_copy(key, database)

    def drop_database(self, name: str) -> None:
        self.server.drop_database(name)

    def leftover_databases(self) -> list[str]:
        return self.server.leftover_databases()

    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        return self.server.make_engine(
            url,
            pool_size,
            isolation,
            begin_with_first_statement=begin_with_first_statement,
            driver_transactions=driver_transactions,
        )

    def classify(self, exc: DBAPIError) -> str:
        return self.server.classify(exc)

    def definite_abort(self, exc: DBAPIError) -> bool:
        return self.server.definite_abort(exc)

    def begin_write(self, conn: Connection) -> RootTransaction:
        return self.server.begin_write(conn)

    def session_id(self, conn: Connection) -> int | None:
        return self.server.session_id(conn)

    def driver_session_id(self, driver_connection: Any) -> int | None:
        return self.server.driver_session_id(driver_connection)

    def lock_waits(
        self, monitor: Connection, sessions: Collection[int], *, holders: bool = True
    ) -> dict[int, set[int]] | None:
        return self.server.lock_waits(monitor, sessions, holders=holders)

    def cancel(self, monitor: Connection, session: int) -> None:
        self.server.cancel(monitor, session)

    # --- faults: the container is the harness's own, so it can be paused and restarted -------------

    def fault_problem(self, fault: str) -> str | None:
        return None if fault in ("pause", "restart") else self.server.fault_problem(fault)

    def kill_sessions(self, database: str) -> int:
        return self.server.kill_sessions(database)

    def pause(self, seconds: float) -> None:
        """The container's processes frozen (the engine's cgroup freezer), then thawed."""
        wrapped = self._container.get_wrapped_container()
        wrapped.pause()
        try:
            time.sleep(seconds)
        finally:
            wrapped.unpause()

    def restart(self) -> None:
        """A crash and a start: the engine kills the server (SIGKILL, no shutdown checkpoint) and starts
        the container again; the server answers on the same host port once it is ready.

        Not the engine's own restart (SIGTERM, then SIGKILL after a grace time): podman on a loaded
        machine answers it with "container state improper: stopped" when the server exits by itself
        within the grace time, and leaves the container stopped for the rest of the run."""
        from docker.errors import APIError  # the containers extra's, as testcontainers itself

        port = self._port()
        wrapped = self._container.get_wrapped_container()
        deadline = time.monotonic() + RESTART_S
        with contextlib.suppress(APIError):  # a container that already stopped is as good as killed
            wrapped.kill()
        wrapped.wait(timeout=RESTART_S, condition="not-running")
        while True:  # started again; a start refused while the engine still tidies up is tried again
            try:
                wrapped.start()
                break
            except APIError as exc:
                wrapped.reload()
                if wrapped.status == "running":
                    break
                if time.monotonic() > deadline:
                    raise DatabaseError(f"{self.image} did not start again after its restart: {exc}") from None
                time.sleep(0.2)
        if self._port() != port:
            raise DatabaseError(f"{self.image} came back on another port ({self._port()}, was {port})")
        server = self.server
        assert isinstance(server, ServerBackend)
        while True:
            try:
                server.admin_execute("SELECT 1")
                return
            except DatabaseError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _port(self) -> str:
        return str(self._container.get_exposed_port(5432 if self.kind == "postgres" else 3306))

    def __getstate__(self) -> dict[str, Any]:
        """Writer processes get the server's connection behaviour, never the container itself."""
        state = dict(self.__dict__)
        state["_container"] = state["_guard"] = None
        return state


REMOVE_ATTEMPTS = 3


def _remove(container: Any) -> None:
    """Stop and remove the container with its volumes; one already gone is fine. An engine that is
    slow to answer (a loaded machine) is asked again; a container that still stands is named on
    stderr with the command that removes it, never left behind in silence."""
    last: Exception | None = None
    for attempt in range(REMOVE_ATTEMPTS):
        try:
            container.stop()  # testcontainers: remove(force=True, v=True)
            return
        except Exception as exc:
            if "No such container" in str(exc) or "no such container" in str(exc):
                return
            last = exc
            time.sleep(1 + attempt)
    with contextlib.suppress(Exception):
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        name = wrapped.name
        print(
            f"race-harness: warning: container {name} could not be removed ({type(last).__name__}: "
            f"{str(last).splitlines()[0][:120] if last and str(last) else ''}); remove it with: docker rm -f {name}",
            file=sys.stderr,
        )


def provide(spec: str) -> list[Backend]:
    """``--db container:IMAGE`` (:data:`race_harness.defaults.DATABASES`)."""
    return [ContainerBackend(spec.removeprefix("container:"))]


def status(spec: str) -> str:
    """For ``race-harness list``: whether a container can be started here."""
    problem = engine_problem()
    return f"NOT available: {problem}" if problem else "a container engine answers"
