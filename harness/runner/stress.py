"""The stress runner: many concurrent writers and readers against one scratch database.

Each session is a thread with its own connection. A writer performs the application's request as
the seed bugs do it: load the entity in one transaction, think, then save through the strategy in a
second transaction. Readers load the entity in single-statement transactions and record what they
saw. Every operation lands in the history; nothing is sampled or dropped.

Outcome rules (what makes a completion ok / fail / info):
- an error before COMMIT was sent, or a strategy's own conflict, rolls back: ``fail``;
- an error from COMMIT itself is ``info`` (it may have committed), unless the database's error
  proves an abort (serialization failure, deadlock);
- anything unexpected in the harness is ``info`` and listed as a harness error, never swallowed.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError

from harness.databases.base import Backend, ScratchDatabase
from harness.history import History, Outcome, Written
from harness.model import Snapshot, State
from harness.runner.config import RunConfig
from harness.scenario import Scenario, WriteOp, WriterContext
from harness.schema import Tables, build_tables, create_and_load, read_states
from harness.strategies.base import Conflict, Strategy

DEFAULT_OPS = 200
READER_PAUSE_S = 0.001


@dataclass
class RunRecord:
    """What one run produced: the checker's whole input, plus how the run itself went."""

    history: History
    initial: dict[int, State]
    final: dict[int, State]
    wall_s: float
    harness_errors: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    type: Outcome
    read: Snapshot | None = None
    written: Written | None = None
    reason: str | None = None
    error: str | None = None


class _Budget:
    """Hands out writer operations until the op count or the deadline is reached."""

    def __init__(self, ops: int | None, deadline: float | None) -> None:
        self._left = ops
        self._deadline = deadline
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self._deadline is not None:
            return time.monotonic() < self._deadline
        with self._lock:
            assert self._left is not None
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def utc_now() -> datetime:
    """The application's clock, as Glance's ``timeutils.utcnow()``: naive UTC with microseconds."""
    return datetime.now(UTC).replace(tzinfo=None)


class StressRun:
    def __init__(self, scenario: Scenario, strategy: Strategy, backend: Backend, config: RunConfig) -> None:
        self.scenario = scenario
        self.strategy = strategy
        self.backend = backend
        self.config = config
        self.tables: Tables = build_tables(scenario.schema, strategy.timestamp_precision)
        self.history = History()
        self.errors: list[str] = []
        self._errors_lock = threading.Lock()
        self._writers_done = threading.Event()

    # --- sessions ----------------------------------------------------------------------------

    def _guard(self, session: int, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:  # a session crash is a harness error the run reports, not a hang
            with self._errors_lock:
                self.errors.append(f"session {session}: {type(exc).__name__}: {exc}")

    def _read(self, conn: Connection, entity: int) -> Snapshot | None:
        with conn.begin():
            return self.strategy.load(conn, self.tables, entity)

    def _attempt(self, conn: Connection, op: WriteOp, rng: random.Random) -> _Attempt:
        try:
            snapshot = self._read(conn, op.entity)
        except DBAPIError as exc:
            return _Attempt("fail", reason=self.backend.classify(exc), error=_short(exc))
        if snapshot is None:
            return _Attempt("fail", reason="missing", error=f"entity {op.entity} not found")
        if self.config.think_ms:
            time.sleep(rng.uniform(0, self.config.think_ms) / 1000)
        txn = self.backend.begin_write(conn)
        try:
            result = self.strategy.save(conn, self.tables, snapshot, op.intent, utc_now())
        except DBAPIError as exc:
            _quiet_rollback(txn)
            return _Attempt("fail", snapshot, reason=self.backend.classify(exc), error=_short(exc))
        except BaseException:
            _quiet_rollback(txn)
            raise
        if isinstance(result, Conflict):
            txn.rollback()
            return _Attempt("fail", snapshot, reason=result.reason)
        try:
            txn.commit()
        except DBAPIError as exc:
            outcome: Outcome = "fail" if self.backend.definite_abort(exc) else "info"
            return _Attempt(outcome, snapshot, reason=self.backend.classify(exc), error=_short(exc))
        return _Attempt("ok", snapshot, written=result.written)

    def _write_once(self, conn: Connection, session: int, op: WriteOp, rng: random.Random) -> Connection:
        index = self.history.invoke(session, "writer", op.f, op.entity, op.intent)
        attempts = 0
        try:
            while True:
                attempts += 1
                outcome = self._attempt(conn, op, rng)
                if conn.invalidated:  # the connection died: open a fresh one for the next attempt
                    conn.close()
                    conn = self._engine.connect()
                retry = (
                    outcome.type == "fail"
                    and self.config.on_conflict == "retry"
                    and attempts < self.config.max_attempts
                    and outcome.reason != "missing"
                )
                if not retry:
                    break
                pause = self.config.backoff_ms * 2 ** (attempts - 1) * rng.uniform(0.5, 1.5)
                time.sleep(pause / 1000)
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
        )
        return conn

    def _writer(self, session: int, budget: _Budget, start: threading.Barrier) -> None:
        rng = random.Random(f"{self.config.seed}:{session}")
        pacer = self.scenario.pacer() if self.scenario.pacer else None
        conn = self._engine.connect()
        try:
            start.wait()
            seq = 0
            while budget.take():
                ctx = WriterContext(session, seq, self.config.writers, rng, self.scenario.params)
                op = self.scenario.next_write(ctx)
                seq += 1
                if pacer is not None:
                    pacer.before_write()
                conn = self._write_once(conn, session, op, rng)
        finally:
            conn.close()

    def _reader(self, session: int, start: threading.Barrier) -> None:
        rng = random.Random(f"{self.config.seed}:{session}")
        conn = self._engine.connect()
        try:
            start.wait()
            while not self._writers_done.is_set():
                entity = rng.choice(self.scenario.entities)
                index = self.history.invoke(session, "reader", "read", entity)
                try:
                    snap = self._read(conn, entity)
                except DBAPIError as exc:
                    self.history.complete(index, "fail", reason=self.backend.classify(exc), error=_short(exc))
                    if conn.invalidated:
                        conn.close()
                        conn = self._engine.connect()
                    continue
                self.history.complete(index, "ok", read=snap)
                time.sleep(READER_PAUSE_S)
        finally:
            conn.close()

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> RunRecord:
        cfg = self.config
        scratch: ScratchDatabase = self.backend.create_database()
        try:
            self._engine: Engine = scratch.engine(pool_size=cfg.writers + cfg.readers + 1)
            try:
                return self._run_on(self._engine)
            finally:
                self._engine.dispose()
        finally:
            scratch.drop()

    def _run_on(self, engine: Engine) -> RunRecord:
        cfg = self.config
        with engine.begin() as conn:
            create_and_load(conn, self.tables, self.scenario.initial, utc_now())
        ops = cfg.ops or self.scenario.default_ops or DEFAULT_OPS
        sessions = cfg.writers + cfg.readers
        start = threading.Barrier(sessions)
        started = time.monotonic()
        deadline = started + cfg.duration if cfg.duration is not None else None
        budget = _Budget(None if deadline else ops, deadline)
        writers = [
            threading.Thread(
                target=self._guard,
                args=(s, lambda s=s: self._writer(s, budget, start)),
                name=f"writer-{s}",
                daemon=True,
            )
            for s in range(cfg.writers)
        ]
        readers = [
            threading.Thread(
                target=self._guard,
                args=(s, lambda s=s: self._reader(s, start)),
                name=f"reader-{s}",
                daemon=True,
            )
            for s in range(cfg.writers, sessions)
        ]
        for t in writers + readers:
            t.start()
        try:
            for t in writers:
                t.join()
        finally:
            self._writers_done.set()
            if any(t.is_alive() for t in writers):
                start.abort()
        for t in readers:
            t.join()
        wall = time.monotonic() - started
        with engine.connect() as conn, conn.begin():
            final = read_states(conn, self.tables, self.scenario.entities)
        initial = {e: dict(s) for e, s in self.scenario.initial.items()}
        return RunRecord(self.history, initial, final, wall, list(self.errors))


def run_stress(scenario: Scenario, strategy: Strategy, backend: Backend, config: RunConfig) -> RunRecord:
    """Create a scratch database, run the scenario with the strategy on it, drop the database."""
    return StressRun(scenario, strategy, backend, config).run()


def _quiet_rollback(txn: RootTransaction) -> None:
    # if the connection is gone the server rolled the transaction back with it
    with contextlib.suppress(DBAPIError):
        txn.rollback()


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else str(exc)[:200]


__all__ = ["DEFAULT_OPS", "RunRecord", "StressRun", "run_stress", "utc_now"]
