"""Driver throughput: the runner's plain read-modify-write against pgbench on the same server.

Workload: the ``counter`` scenario with ``full-row`` (read the row, add one in Python, write every
column back) in ONE transaction, 8 sessions, no think time, no readers, for a fixed duration. The
reference is pgbench running the same statements (``BEGIN; SELECT ...; UPDATE ...; COMMIT;``) with
the same client count against a table the harness itself created, right before or after.

The harness runs twice per round: 8 writer threads in one process (the default) and 8 writer
processes (``RunConfig.processes``, ``--processes``), which use both cores. Two clients without
the harness send the same statements in the runner's two round trips from 8 threads: a bare
psycopg client (what the driver the harness is built on gets) and a client calling libpq itself
(the floor of a Python client's own CPU). Between them, the cost of the driver's layer; between the
bare client and the harness, the cost of SQLAlchemy, the strategy and the history.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from glob import glob
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy.engine import URL

from benchmarks.common import BenchError, median, section, start_backend, table, write_throughput
from race_harness.databases.base import Backend, ScratchDatabase
from race_harness.runner import RunConfig, run_stress
from race_harness.scenario import get_scenario
from race_harness.schema import utc_now
from race_harness.strategies import get_strategy

SESSIONS = 8
# The same statements the runner sends for counter x full-row (the SELECT of load_snapshot and the
# UPDATE of full_row_write); pgbench computes n + 1 from the value it read, as the application does.
PGBENCH_SCRIPT = """\
BEGIN;
SELECT label, n, version, updated_at FROM counters WHERE id = 1 \\gset
UPDATE counters SET label = :label, n = :n + 1, updated_at = now() WHERE id = 1;
COMMIT;
"""
# The runner's two round trips for the same transaction: BEGIN folded into the read, COMMIT into the write.
READ = "BEGIN; SELECT label, n, version, updated_at FROM counters WHERE id = 1"
WRITE = "UPDATE counters SET label = %s, n = %s, updated_at = %s WHERE id = 1; COMMIT"


def find_pgbench() -> str:
    found = shutil.which("pgbench") or next(iter(sorted(glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None)
    if found is None:
        raise BenchError("pgbench not found on PATH or in /usr/lib/postgresql/*/bin; install postgresql-client")
    return found


def _libpq_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """pgbench's connection options for a SQLAlchemy URL; the password goes in the environment."""
    host = str(url.query.get("host", url.host or ""))
    args = ["-h", host] if host else []
    if url.port:
        args += ["-p", str(url.port)]
    args += ["-U", url.username or "postgres", url.database or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


@contextmanager
def _counter_database(backend: Backend) -> Iterator[ScratchDatabase]:
    """A scratch database holding the counter scenario's table, created by the harness's own code."""
    scenario = get_scenario("counter")
    with backend.create_database() as scratch:
        engine = scratch.engine(1)
        try:
            with engine.begin() as conn:
                scenario.tables(6).create(conn)
        finally:
            engine.dispose()
        yield scratch


def run_pgbench(backend: Backend, seconds: float) -> float:
    """Transactions per second of pgbench on a fresh counters table (prepared statements)."""
    pgbench = find_pgbench()
    with (
        _counter_database(backend) as scratch,
        tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as script,
    ):
        script.write(PGBENCH_SCRIPT)
        script.flush()
        conn_args, env = _libpq_args(scratch.url)
        cmd = [pgbench, "-n", "-M", "prepared", "-c", str(SESSIONS), "-j", "2", "-T", str(int(seconds))]
        out = subprocess.run(
            [*cmd, "-f", script.name, *conn_args], capture_output=True, text=True, env=env, check=False
        )
    match = re.search(r"tps = ([0-9.]+)", out.stdout)
    if out.returncode != 0 or match is None:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"pgbench failed (exit {out.returncode}): {last}")
    return float(match.group(1))


def run_harness(backend: Backend, seconds: float, processes: bool) -> float:
    config = RunConfig(writers=SESSIONS, readers=0, duration=seconds, think_ms=0, scope="single", processes=processes)
    record = run_stress(get_scenario("counter"), get_strategy("full-row"), backend, config)
    if record.harness_errors:
        raise BenchError(f"the runner reported harness errors: {record.harness_errors[0]}")
    return write_throughput(record.history.operations())


def _clients(backend: Backend, seconds: float, transaction: Callable[[psycopg.Connection[Any]], None]) -> float:
    """Transactions per second of SESSIONS threads, each running ``transaction`` on its own
    autocommit psycopg connection for ``seconds``, on a fresh counters table."""
    with _counter_database(backend) as scratch:
        dsn = scratch.url.set(drivername="postgresql").render_as_string(hide_password=False)
        done = [0] * SESSIONS
        start = threading.Barrier(SESSIONS + 1)
        deadline = [0.0]

        def client(i: int) -> None:
            with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
                start.wait()
                while time.monotonic() < deadline[0]:
                    transaction(conn)
                    done[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(SESSIONS)]
        for t in threads:
            t.start()
        deadline[0] = time.monotonic() + seconds
        start.wait()
        began = time.monotonic()
        for t in threads:
            t.join()
        return sum(done) / (time.monotonic() - began)


def run_bare_psycopg(backend: Backend, seconds: float) -> float:
    """The same transaction, in the same two round trips as the runner (``BEGIN; SELECT`` and
    ``UPDATE; COMMIT``), through psycopg's cursor: no SQLAlchemy, no strategy, no history. What the
    driver the harness is built on gets here."""

    def transaction(conn: psycopg.Connection[Any]) -> None:
        cursor = conn.cursor()
        cursor.execute(READ)
        cursor.nextset()
        row = cursor.fetchone()
        assert row is not None
        cursor.execute(WRITE, (row[0], row[1] + 1, utc_now()))

    return _clients(backend, seconds, transaction)


def run_libpq(backend: Backend, seconds: float) -> float:
    """The same two queries on libpq itself (psycopg's ``pq`` binding): ``PQexec`` with the GIL
    released, the parameters formatted in place, the reply read as text. No adaptation, no cursor,
    no error mapping: the floor of a Python client's own CPU, not something the harness could use."""

    def transaction(conn: psycopg.Connection[Any]) -> None:
        pgconn = conn.pgconn
        read = pgconn.exec_(READ.encode())
        label = read.get_value(0, 0)
        count = read.get_value(0, 1)
        assert label is not None and count is not None, read.error_message
        literal = pq.Escaping(pgconn).escape_literal(label)
        write = WRITE % (literal.decode(), int(count) + 1, f"'{utc_now().isoformat()}'")
        done = pgconn.exec_(write.encode())
        assert done.status == pq.ExecStatus.COMMAND_OK, done.error_message

    return _clients(backend, seconds, transaction)


def bench(pg: str, quick: bool) -> None:
    seconds, rounds = (3.0, 1) if quick else (10.0, 3)
    backend = start_backend(pg)
    try:
        if backend.family != "postgresql":
            raise BenchError(f"the driver benchmark needs PostgreSQL (pgbench) but --pg {pg} is {backend.family}")
        section(
            "driver throughput",
            f"counter x full-row, one transaction, {SESSIONS} sessions, {seconds:.0f} s per run, "
            f"{rounds} alternating round(s) on {backend.label}",
        )
        rows = []
        threads, procs, bares, floors = [], [], [], []
        over_bare: tuple[list[float], list[float]] = ([], [])
        for n in range(1, rounds + 1):
            ref = run_pgbench(backend, seconds)
            in_threads = run_harness(backend, seconds, processes=False)
            in_procs = run_harness(backend, seconds, processes=True)
            bare = run_bare_psycopg(backend, seconds)
            floor = run_libpq(backend, seconds)
            threads.append(in_threads / ref)
            procs.append(in_procs / ref)
            bares.append(bare / ref)
            floors.append(floor / ref)
            over_bare[0].append(in_threads / bare)
            over_bare[1].append(in_procs / bare)
            rows.append(
                (
                    f"round {n}",
                    f"{ref:.0f}",
                    f"{in_threads:.0f} ({in_threads / ref:.2f}x)",
                    f"{in_procs:.0f} ({in_procs / ref:.2f}x)",
                    f"{bare:.0f} ({bare / ref:.2f}x)",
                    f"{floor:.0f} ({floor / ref:.2f}x)",
                )
            )
        header = ["", "pgbench tx/s", "harness, threads", "harness, processes", "bare psycopg", "libpq from Python"]
        table(rows, header)
        print(
            f"   median harness/pgbench: threads {median(threads):.2f}x, processes {median(procs):.2f}x "
            f"(target >= 0.90x); bare psycopg {median(bares):.2f}x; libpq from Python {median(floors):.2f}x"
        )
        print(
            f"   median harness/bare psycopg (same round trips, same run): threads {median(over_bare[0]):.2f}x, "
            f"processes {median(over_bare[1]):.2f}x (target >= 0.90x)"
        )
        print(f"   bare psycopg, libpq: {SESSIONS} threads, the runner's two round trips, no harness")
    finally:
        backend.close()
