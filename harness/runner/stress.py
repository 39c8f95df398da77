"""The stress runner: many concurrent writers and readers against one scratch database.

Each session has its own connection. Writers are threads of this process or, with
``RunConfig.processes``, separate OS processes (as several API workers are in production). A
writer performs the application's request: load the entity, think, save it through the strategy,
either in two transactions (scope ``separate``, as in the seed bugs) or in one (``single``).
Readers load the entity in single-statement transactions and record what they saw. Every
operation lands in the history; nothing is sampled or dropped.

Outcome rules (what makes a completion ok / fail / info):
- an error before COMMIT was sent, or a strategy's own conflict, rolls back: ``fail``;
- an error from COMMIT itself is ``info`` (it may have committed), unless the database's error
  proves an abort (serialization failure, deadlock);
- anything unexpected in the harness is ``info`` and listed as a harness error, never swallowed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from race_harness.app_setup import COMMAND_TIMEOUT_S
from race_harness.databases.base import Backend, Isolation, ScratchDatabase
from race_harness.defaults import NETWORK_FAULTS, Scope
from race_harness.entity import EntityTables
from race_harness.errors import DatabaseError, DatabaseUnreachableError, UsageError, crash
from race_harness.events import Event, session_name
from race_harness.history import History
from race_harness.model import State
from race_harness.operations import WriteOp, WriterContext
from race_harness.runner.app_steps import configure_app, dispose_app_engines, steps_for
from race_harness.runner.config import RunConfig
from race_harness.runner.injection import injection_point
from race_harness.runner.nemesis import Nemesis
from race_harness.runner.proxy import Proxy
from race_harness.runner.receipts import create_receipts, read_receipts, receipt_key, resolve
from race_harness.runner.steps import Attempt, short_error, should_retry
from race_harness.scenario import Scenario, get_scenario
from race_harness.schema import utc_now
from race_harness.strategies.base import Strategy
from race_harness.strategies.registry import strategy_ref

DEFAULT_OPS = 200
READER_PAUSE_S = 0.001
START_TIMEOUT_S = 120  # writer processes must all be up by then (spawning imports the harness)


@dataclass(frozen=True)
class CellPlan:
    """The transaction scope and isolation a cell really runs with."""

    scope: Scope
    isolation: Isolation


def plan_cell(strategy: Strategy, backend: Backend, config: RunConfig) -> CellPlan | str:
    """The effective scope and isolation, or why the cell cannot run (shown as n/a)."""
    scope: Scope = strategy.scope or config.scope
    isolation: Isolation = strategy.isolation or config.isolation or backend.default_isolation
    if isolation not in backend.isolation_levels:
        return f"{backend.family} has no {isolation} isolation"
    return CellPlan(scope, isolation)


def uses_receipts(scenario: Scenario, config: RunConfig) -> bool:
    """Whether writes carry receipts (:mod:`race_harness.runner.receipts`): under faults, where
    COMMITs of unknown outcome are expected, and only on the harness's own strategy writes."""
    return bool(config.nemesis) and not scenario.is_app


@dataclass
class RunRecord:
    """What one run produced: the checker's whole input, plus how the run itself went."""

    history: History
    initial: dict[int, State]
    final: dict[int, State]
    wall_s: float
    plan: CellPlan
    harness_errors: list[str] = field(default_factory=list)
    setup_s: float | None = None  # the application's own schema set-up (its migrations), not in wall_s


class _Budget:
    """Hands out writer operations until the op count is used up or the duration has elapsed.

    The clock starts at the first ``take``, after the start barrier, so time spent spawning writer
    processes and connecting does not eat into the run. Each writer process has its own budget;
    they start within moments of each other, when the barrier releases them all.
    """

    def __init__(self, ops: int | None, duration: float | None) -> None:
        self._left = ops
        self._duration = duration
        self._deadline: float | None = None
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self._duration is not None:
            if self._deadline is None:
                with self._lock:
                    if self._deadline is None:
                        self._deadline = time.monotonic() + self._duration
            return time.monotonic() < self._deadline
        with self._lock:
            assert self._left is not None
            if self._left <= 0:
                return False
            self._left -= 1
            return True


class WriterSession:
    """One writer's loop; the same code runs in a thread or in a writer process."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy,
        backend: Backend,
        tables: EntityTables,
        config: RunConfig,
        plan: CellPlan,
        history: History,
        engine: Engine,
    ) -> None:
        self.scenario, self.strategy, self.backend, self.tables = scenario, strategy, backend, tables
        self.config, self.plan, self.history, self.engine = config, plan, history, engine
        self.receipts = uses_receipts(scenario, config)

    def _think(self, rng: random.Random) -> None:
        if self.config.think_ms:
            time.sleep(rng.uniform(0, self.config.think_ms) / 1000)

    def attempt(
        self, conn: Connection, op: WriteOp, rng: random.Random, marks: list[int | None], receipt: str | None = None
    ) -> Attempt:
        """Read, think, write, commit: the three steps of :class:`OpSteps` back to back (an
        application function: called whole, with the think pause before its first write).
        ``marks`` gets when the attempt began reading and, after the pause, writing."""
        steps = steps_for(
            self.strategy,
            self.backend,
            self.tables,
            self.plan.scope,
            conn,
            op,
            write_with_commit=True,
            clock=self.history.now,
            receipt=receipt,
        )

        def think() -> None:  # the read has returned; the write is about to go out
            marks[0] = self.history.now()
            self._think(rng)
            marks[1] = self.history.now()

        with self.strategy.guard():
            marks[:] = [self.history.now(), None]
            return steps.run_through(think)

    def write_once(self, conn: Connection, session: int, op: WriteOp, rng: random.Random, seq: int = 0) -> Connection:
        index = self.history.invoke(session, "writer", op.name, op.entity, op.intent)
        receipt = receipt_key(session, seq) if self.receipts else None
        attempts = 0
        marks: list[int | None] = [None, None]  # the last attempt's read-returned and write moments
        try:
            while True:
                attempts += 1
                outcome = self.attempt(conn, op, rng, marks, receipt)
                if conn.invalidated:  # the connection died: open a fresh one for the next attempt
                    conn = reconnect(self.engine, conn)
                if not should_retry(outcome, attempts, self.strategy, self.config):
                    break
                time.sleep(self.config.backoff_ms * 2 ** (attempts - 1) * rng.uniform(0.5, 1.5) / 1000)
        except Exception as exc:
            self.history.complete(index, "info", attempts=attempts, error=f"{type(exc).__name__}: {exc}")
            raise
        self.history.complete(
            index,
            outcome.type,
            read=outcome.read,
            written=outcome.written,
            attempts=attempts,
            reason=outcome.reason,
            error=outcome.error,
            read_at=outcome.read_at if outcome.read_at is not None else marks[0],
            write_at=outcome.write_at if outcome.write_at is not None else marks[1],
            statements=outcome.statements,
        )
        return conn

    def run(self, session: int, budget: _Budget, wait_for_start: Callable[[], object]) -> None:
        rng = random.Random(f"{self.config.seed}:{session}")
        pacer = self.scenario.pacer() if self.scenario.pacer else None
        conn = retrying(self.engine.connect, RECONNECT_S)  # a server restarting at the start is waited for
        try:
            wait_for_start()
            seq = 0
            while budget.take():
                op = self.scenario.write(WriterContext(session, seq, self.config.writers, rng, self.scenario.params))
                if pacer is not None:
                    pacer.before_write()
                conn = self.write_once(conn, session, op, rng, seq)
                seq += 1
        finally:
            conn.close()


# --- writer processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChildSpec:
    session: int
    scenario: str
    params: Mapping[str, float]
    strategy: str
    backend: Backend  # picklable: started backends drop their engines and servers (see __getstate__)
    url: str
    config: RunConfig
    plan: CellPlan
    origin: int
    ops: int | None
    duration: float | None
    parent: int  # the harness's pid: the writer ends when it is gone


PARENT_CHECK_S = 0.5


def _end_with_parent(parent: int) -> None:
    """A daemon thread that ends this writer process as soon as the harness that started it is gone,
    SIGKILL included (no handler of the harness runs then): its database sessions close with it,
    instead of holding locks and connections until the run's duration or the server's timeouts."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)  # orphaned: nothing of this process's work can be reported any more

    threading.Thread(target=watch, name="race-harness-parent-watch", daemon=True).start()


def _writer_process(spec: _ChildSpec, start: Any, results: Any) -> None:
    """Entry point of a writer process: one writer session, its events sent back as JSON."""
    from race_harness.strategies.registry import get_strategy

    _end_with_parent(spec.parent)
    errors: list[str] = []
    fatal: str | None = None  # a UsageError: the scenario's set-up is wrong, and the run ends with it
    history = History(origin=spec.origin, columns=False)  # only its events travel back; the merge indexes them
    try:
        scenario = get_scenario(spec.scenario).with_params(spec.params)
        strategy = get_strategy(spec.strategy)
        tables = scenario.tables(strategy.timestamp_precision)
        configure_app(scenario, make_url(spec.url))  # an application that connects itself, in this process too
        engine = spec.backend.make_engine(make_url(spec.url), 2, spec.plan.isolation, **_engine_options(scenario))
        try:
            writer = WriterSession(scenario, strategy, spec.backend, tables, spec.config, spec.plan, history, engine)
            writer.run(spec.session, _Budget(spec.ops, spec.duration), lambda: start.wait(START_TIMEOUT_S))
        finally:
            engine.dispose()
            dispose_app_engines()
    except UsageError as exc:
        fatal = str(exc)
        with contextlib.suppress(Exception):
            start.abort()
    except Exception as exc:
        errors.append(f"writer process {spec.session}: {crash(exc)}")
        with contextlib.suppress(Exception):
            start.abort()
    results.put((spec.session, [ev.to_json() for ev in history.events], errors, fatal))


T = TypeVar("T")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
DROP_TIMEOUT_S = 60.0  # a server that stopped answering cannot drop the scratch database: say so, go on


def _drop_within(scratch: ScratchDatabase, seconds: float) -> None:
    """Drop the scratch database, waiting at most ``seconds`` (a DROP on a frozen server never returns);
    what could not be dropped is named, for `race-harness clean` or the next run to drop."""

    def drop() -> None:  # a server restarting meanwhile is waited for, as a session waits for it
        deadline = time.monotonic() + RECONNECT_S
        while True:
            try:
                return scratch.drop()
            except DatabaseUnreachableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    within(
        drop,
        seconds,
        f"the scratch database {scratch.name} was not dropped: the server did not answer in {seconds:g} s "
        f"(race-harness clean, or the next run, drops it)",
    )


def within(work: Callable[[], T], seconds: float, late: str) -> T:
    """``work()``, waited for at most ``seconds``: a statement on a frozen server never returns, so it
    runs on a thread of its own, left behind (a daemon) when it is late; then ``late`` is raised as a
    DatabaseError. What ``work`` raises in time is raised here."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="race-harness-bounded", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise DatabaseError(late)
    if failed:
        raise failed[0]
    return done[0]


RECONNECT_S = 30.0  # how long a session keeps trying to reconnect: a restarting server comes back within it


def retrying(attempt: Callable[[], T], seconds: float) -> T:
    """``attempt()`` again after a database error, with a growing pause, until ``seconds`` have passed;
    then the last error is raised."""
    deadline, pause = time.monotonic() + seconds, 0.02
    while True:
        try:
            return attempt()
        except DBAPIError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def reconnect(engine: Engine, dead: Connection) -> Connection:
    """A fresh connection for a session whose connection died (a killed session, a restarted server),
    tried for RECONNECT_S; then the last error ends the session."""
    dead.close()
    return retrying(engine.connect, RECONNECT_S)


def _split(ops: int, writers: int) -> list[int]:
    return [ops // writers + (1 if i < ops % writers else 0) for i in range(writers)]


# --- the run ---------------------------------------------------------------------------------


class StressRun:
    def __init__(
        self, scenario: Scenario, strategy: Strategy, backend: Backend, config: RunConfig, plan: CellPlan
    ) -> None:
        self.scenario, self.strategy, self.backend, self.config, self.plan = scenario, strategy, backend, config, plan
        self.tables = scenario.tables(strategy.timestamp_precision)
        self.history = History()
        self.errors: list[str] = []
        self._errors_lock = threading.Lock()
        self._writers_done = threading.Event()
        self._fatal: UsageError | None = None  # the scenario's own set-up is wrong: the run ends in one line

    def _guarded(self, session: int, body: Callable[[], None], start: threading.Barrier | None = None) -> None:
        try:
            body()
        except threading.BrokenBarrierError:  # another session failed first; its error is the cause
            with self._errors_lock:
                name = session_name(session)
                self.errors.append(f"session {name}: did not start: another session failed before the start")
        except UsageError as exc:  # not the session's fault but the scenario's: the run stops with it
            self._fatal = self._fatal or exc
            self._writers_done.set()
            if start is not None:
                start.abort()
        except Exception as exc:  # a session crash is a harness error the run reports, not a hang
            with self._errors_lock:
                self.errors.append(f"session {session_name(session)}: {crash(exc)}")
            if start is not None:
                start.abort()  # the sessions waiting for this one to start are released, not left waiting

    def _reader(self, engine: Engine, session: int, wait_for_start: Callable[[], object]) -> None:
        rng = random.Random(f"{self.config.seed}:{session}")
        conn = retrying(engine.connect, RECONNECT_S)
        try:
            wait_for_start()
            while not self._writers_done.is_set():
                entity = rng.choice(self.scenario.entities)
                index = self.history.invoke(session, "reader", "read", entity)
                try:
                    with conn.begin():
                        snap = self.tables.snapshot(conn, entity)
                except DBAPIError as exc:
                    self.history.complete(index, "fail", reason=self.backend.classify(exc), error=short_error(exc))
                    if conn.invalidated:
                        conn = reconnect(engine, conn)
                    continue
                self.history.complete(index, "ok", read=snap)
                time.sleep(READER_PAUSE_S)
        finally:
            conn.close()

    def run(self) -> RunRecord:
        scratch: ScratchDatabase = self.backend.scratch_for(self.scenario.database_key, self.tables.template())
        proxy = None
        failure: str | None = None
        try:
            through = scratch
            if NETWORK_FAULTS & set(self.config.nemesis):  # sessions through the harness's own TCP proxy
                proxy = Proxy(str(scratch.url.host), scratch.url.port or DEFAULT_PORTS[self.backend.family])
                through = replace(scratch, url=scratch.url.set(host="127.0.0.1", port=proxy.port))
            engine = through.engine(
                self.config.writers + self.config.readers + 1, self.plan.isolation, **_engine_options(self.scenario)
            )
            try:
                return self._run_on(through, engine, proxy)
            finally:
                engine.dispose()
        except DatabaseError as exc:  # the database stopped answering: say that, and what it left behind
            failure = str(exc)
            raise
        finally:
            in_flight = sys.exc_info()[1]
            try:
                self._clean_up(scratch, proxy, failure)
            except DatabaseError:
                # an interrupt or a crash on its way out keeps its own message; the next run drops the leftover
                if in_flight is None or isinstance(in_flight, DatabaseError):
                    raise

    def _clean_up(self, scratch: ScratchDatabase, proxy: Proxy | None, failed: str | None) -> None:
        if proxy is not None:
            proxy.close()
        dispose_app_engines()
        injection_point("drop", scratch.name)
        try:
            _drop_within(scratch, DROP_TIMEOUT_S)
        except DatabaseError as exc:
            raise DatabaseError(f"{failed}; {exc}" if failed else str(exc)) from None

    def _run_on(self, scratch: ScratchDatabase, engine: Engine, proxy: Proxy | None = None) -> RunRecord:
        cfg = self.config
        receipts = uses_receipts(self.scenario, cfg)
        template = scratch.template
        reset = (lambda: self.backend.reset_copy(template, scratch.name)) if template is not None else None
        initial = self._make(engine, scratch.name, receipts, made=scratch.schema_made, reset=reset)
        if scratch.schema_made:
            self.tables.setup_seconds = scratch.setup_seconds
        if not self.scenario.configured_for(scratch.url):  # configured once: its database keeps the name
            configure_app(self.scenario, scratch.url)
        ops = cfg.ops or self.scenario.default_ops or DEFAULT_OPS
        started = time.monotonic()
        readers = range(cfg.writers, cfg.writers + cfg.readers)
        nemesis = Nemesis(cfg.nemesis, cfg.nemesis_interval, self.backend, scratch.name, self.history, proxy)
        # faults begin once every session has connected and reached the start: one before it would
        # void the cell (a session that cannot connect stops them all) instead of testing it
        begin = nemesis.start if cfg.nemesis else None
        try:
            if cfg.processes:
                history = self._run_processes(scratch, engine, ops, readers, begin)
                history.faults = list(self.history.faults)
            else:
                budget = _Budget(None if cfg.duration else ops, cfg.duration)
                self._run_threads(engine, budget, readers, begin, scratch.name)
                history = self.history
        finally:
            nemesis.stop()  # the fault under way ends (a paused server goes on) before the final read
        self.errors.extend(nemesis.errors)
        if self._fatal is not None:
            raise self._fatal
        wall = time.monotonic() - started
        final, committed = self._final_states(engine, scratch.name, receipts)
        if committed is not None:
            history, _ = resolve(history, committed)
        return RunRecord(history, initial, final, wall, self.plan, list(self.errors), self.tables.setup_seconds)

    def _make(
        self, engine: Engine, database: str, receipts: bool, *, made: bool, reset: Callable[[], bool] | None
    ) -> dict[int, State]:
        """Create and seed the cell's tables; a connection that dies meanwhile (a session killed, a
        server restarting) is replaced and the set-up made again, for as long as a session would
        reconnect. What still fails ends the run in one line; the cells before it are written."""
        attempts = 0

        def make() -> dict[int, State]:
            nonlocal attempts
            attempts += 1
            with engine.begin() as conn:
                injection_point("create", database)
                initial = self.tables.create(
                    conn, lambda: injection_point("seed", database), again=attempts > 1, made=made, reset=reset
                )
                if receipts:
                    create_receipts(conn)
                return initial

        # bounded as the running phase is: a server frozen for good ends the run in one line, never a hang
        bound = self.config.stall_timeout + RECONNECT_S + (COMMAND_TIMEOUT_S if self.tables.entity.create else 0)
        late = f"{self.backend.label} stopped answering: the cell's tables were not made in {bound:g} s"
        try:
            return within(lambda: retrying(make, RECONNECT_S), bound, late)
        except DBAPIError as exc:
            cell = f"{self.scenario.name} x {self.strategy.spec} on {self.backend.label}"
            raise DatabaseError(
                f"{cell}: its tables could not be made in {RECONNECT_S:g} s of retries: {short_error(exc)}"
            ) from None

    def _final_states(
        self, engine: Engine, database: str, receipts: bool = False
    ) -> tuple[dict[int, State], set[str] | None]:
        """The entities as the run left them, and the receipts of the writes that committed (None
        without receipts). After faults the pool's connections may be ones the nemesis killed, and a
        restarted server may still be coming back: fresh connections, tried for as long as a session
        would reconnect. A database that cannot be read is said in one line."""

        def read() -> tuple[dict[int, State], set[str] | None]:
            if self.config.nemesis:
                engine.dispose()
            with engine.connect() as conn, conn.begin():
                injection_point("final", database)
                return self.tables.states(conn, self.scenario.entities), read_receipts(conn) if receipts else None

        bound = self.config.stall_timeout + RECONNECT_S
        late = f"{self.backend.label} stopped answering: the final state was not read in {bound:g} s"
        try:  # a dead pooled connection fails its first statement, and the pool then opens fresh ones
            return within(lambda: retrying(read, RECONNECT_S), bound, late)
        except DBAPIError as exc:
            raise DatabaseError(f"the final state could not be read: {short_error(exc)}") from None

    def _start_readers(
        self, engine: Engine, readers: range, wait: Callable[[], object], start: threading.Barrier | None = None
    ) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self._guarded,
                args=(s, lambda s=s: self._reader(engine, s, wait), start),
                name=f"reader-{s}",
                daemon=True,
            )
            for s in readers
        ]
        for t in threads:
            t.start()
        return threads

    def _run_threads(
        self, engine: Engine, budget: _Budget, readers: range, begin: Callable[[], None] | None, database: str
    ) -> None:
        start = threading.Barrier(self.config.writers + len(readers) + 1)
        _after_start(start, begin, database, engine)

        def wait() -> object:  # bounded: a session that never arrives cannot hold the others forever
            return start.wait(START_TIMEOUT_S)

        writer = WriterSession(
            self.scenario, self.strategy, self.backend, self.tables, self.config, self.plan, self.history, engine
        )
        threads = [
            threading.Thread(
                target=self._guarded,
                args=(s, lambda s=s: writer.run(s, budget, wait), start),
                name=f"writer-{s}",
                daemon=True,
            )
            for s in range(self.config.writers)
        ]
        for t in threads:
            t.start()
        reader_threads = self._start_readers(engine, readers, wait, start)
        try:
            self._join(threads)
        finally:
            self._writers_done.set()
            if any(t.is_alive() for t in threads):
                start.abort()
        for t in reader_threads:
            t.join()

    def _join(self, threads: Sequence[threading.Thread]) -> None:
        """Wait for the writers, but not for ever: when no operation starts or ends for the stall
        timeout, the database stopped answering (a server frozen for good) and the run ends saying so."""
        seen, last = len(self.history), time.monotonic()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.25)
                if len(self.history) != seen:
                    seen, last = len(self.history), time.monotonic()
                elif time.monotonic() - last > self.config.stall_timeout:
                    raise DatabaseError(
                        f"{self.backend.label} stopped answering: no operation started or ended for "
                        f"{self.config.stall_timeout:g} s (--stall-timeout)"
                    )

    def _run_processes(
        self, scratch: ScratchDatabase, engine: Engine, ops: int, readers: range, begin: Callable[[], None] | None
    ) -> History:
        cfg = self.config
        ctx = multiprocessing.get_context("spawn")  # fork would copy this process's threads and connections
        start = ctx.Barrier(cfg.writers + len(readers) + 1)
        _after_start(start, begin, scratch.name, engine)
        results = ctx.Queue()
        shares = _split(ops, cfg.writers)
        url = scratch.url.render_as_string(hide_password=False)
        procs = [
            ctx.Process(
                target=_writer_process,
                args=(
                    _ChildSpec(
                        s,
                        self.scenario.ref,  # what finds it again in the child, as on the command line
                        dict(self.scenario.params),
                        strategy_ref(self.strategy),
                        self.backend,
                        url,
                        cfg,
                        self.plan,
                        self.history.origin,
                        None if cfg.duration else shares[s],
                        cfg.duration,
                        os.getpid(),
                    ),
                    start,
                    results,
                ),
                name=f"race-harness-writer-{s}",
                daemon=True,
            )
            for s in range(cfg.writers)
        ]
        for p in procs:
            p.start()
        reader_threads = self._start_readers(engine, readers, lambda: start.wait(START_TIMEOUT_S))
        parts: list[list[Event]] = []
        try:
            while len(parts) < len(procs):
                try:
                    _session, events, errors, fatal = results.get(timeout=1)
                except queue.Empty:
                    if not any(p.is_alive() for p in procs):
                        self.errors.append(f"{len(procs) - len(parts)} writer process(es) exited without results")
                        break
                    continue
                parts.append([Event.from_json(e) for e in events])
                self.errors.extend(errors)
                if fatal is not None and self._fatal is None:
                    self._fatal = UsageError(fatal)
        finally:
            self._writers_done.set()
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
        for t in reader_threads:
            t.join()
        return History.merge([self.history.events, *parts], self.history.origin)


def _after_start(start: threading.Barrier, then: Callable[[], None] | None, database: str, engine: Engine) -> None:
    """The harness's own party of the sessions' start barrier, on a thread of its own: once every
    session has connected and waits (a test's ``start`` injection point holds it there), it checks
    that the database answers, waiting out a server that restarted meanwhile, so a fault before the
    start delays the cell instead of eating its duration; then it releases them. ``then`` runs once
    the barrier releases, not at all when the start fails (broken, timed out, no answer)."""

    def answers() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def wait() -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while start.n_waiting < start.parties - 1 and not start.broken and time.monotonic() < deadline:
            time.sleep(0.01)
        injection_point("start", database)
        try:
            retrying(answers, RECONNECT_S)
        except DBAPIError:
            start.abort()  # the sessions end with "did not start"; the stall timeout names the database
            return
        try:
            start.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            return
        if then is not None:
            then()

    threading.Thread(target=wait, name="race-harness-after-start", daemon=True).start()


def _engine_options(scenario: Scenario) -> dict[str, bool]:
    """The harness's own engine for its strategies; for application code, the driver's transactions as
    the application has them (on SQLite: pysqlite's own BEGIN, not the harness's)."""
    if scenario.is_app:
        return {"driver_transactions": True}
    return {"begin_with_first_statement": True}


def run_stress(
    scenario: Scenario, strategy: Strategy, backend: Backend, config: RunConfig, plan: CellPlan | None = None
) -> RunRecord:
    """Create a scratch database, run the scenario with the strategy on it, drop the database."""
    if plan is None:
        planned = plan_cell(strategy, backend, config)
        if isinstance(planned, str):
            raise UsageError(f"cannot run {scenario.name} x {strategy.spec} on {backend.label}: {planned}")
        plan = planned
    return StressRun(scenario, strategy, backend, config, plan).run()


__all__ = ["DEFAULT_OPS", "CellPlan", "RunRecord", "StressRun", "WriterSession", "plan_cell", "run_stress", "utc_now"]
