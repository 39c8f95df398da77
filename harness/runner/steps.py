"""One write operation as the steps a schedule names: ``read``, ``write``, ``commit``.

The stress runner runs the three back to back (with a think pause after the read); the schedule
runner releases them one at a time in the order a schedule gives. Both go through this code, so a
replayed schedule exercises exactly the transactions a stress run does.

- scope ``separate`` (the seed bugs): ``read`` is a transaction of its own; ``write`` opens the write
  transaction and saves through the strategy; ``commit`` commits it.
- scope ``single``: ``read`` opens the transaction (``BEGIN IMMEDIATE`` on SQLite for a locking
  read) and loads; ``write`` saves in it; ``commit`` commits it.

Outcome rules: an error before COMMIT was sent, or the strategy's own conflict, rolls back and is
``fail``; an error from COMMIT itself is ``info`` (it may have committed) unless the database's error
proves an abort (serialization failure, deadlock).

A save that hands back its last write (:class:`SaveOnCommit`, :class:`FinishOnCommit`) has it run
at ``write``, unless the caller runs write and commit back to back (stress mode) and the driver is
psycopg: then the write goes out with the COMMIT as one query (:mod:`race_harness.runner.last_write`). Schedules
always run it at ``write``, so a step releases exactly the statements it names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, RootTransaction
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Backend
from race_harness.defaults import Scope
from race_harness.events import Outcome, Written
from race_harness.model import Snapshot
from race_harness.operations import WriteOp
from race_harness.runner.config import RunConfig
from race_harness.runner.last_write import LastWrite, StatementFailed, can_send_with_commit, run_now, send_with_commit
from race_harness.runner.receipts import write_receipt
from race_harness.schema import Tables, utc_now
from race_harness.strategies.base import Conflict, FinishOnCommit, SaveOnCommit, Strategy

STEP_NAMES = ("read", "write", "commit")
NOT_RETRIED = frozenset({"missing", "not-expressible"})


@dataclass
class Attempt:
    """How one attempt at a write operation ended."""

    type: Outcome
    read: Snapshot | None = None
    written: Written | None = None
    reason: str | None = None
    error: str | None = None
    # an application call's own: when its read returned and its first effective write went out,
    # and the statement that stored each field (what the checker's evidence quotes)
    read_at: int | None = None
    write_at: int | None = None
    statements: Mapping[str, str] = field(default_factory=dict)


def should_retry(outcome: Attempt, attempts: int, strategy: Strategy, config: RunConfig) -> bool:
    """A failed attempt is retried when the run asks for it or the strategy retries that abort itself."""
    if outcome.type != "fail" or outcome.reason in NOT_RETRIED or attempts >= config.max_attempts:
        return False
    return config.on_conflict == "retry" or outcome.reason in strategy.retry_reasons


class OpSteps:
    """One attempt at one write operation on one connection. Each step returns the final
    :class:`Attempt` when the operation ended there (failed, or committed), else None."""

    def __init__(
        self,
        strategy: Strategy,
        backend: Backend,
        tables: Tables,
        scope: Scope,
        conn: Connection,
        op: WriteOp,
        *,
        write_with_commit: bool = False,
        receipt: str | None = None,
    ) -> None:
        self.strategy, self.backend, self.tables, self.scope, self.conn, self.op = (
            strategy,
            backend,
            tables,
            scope,
            conn,
            op,
        )
        self.txn: RootTransaction | None = None
        self.snapshot: Snapshot | None = None
        self.written: Written | None = None
        self.writing = False  # a write of the transaction returned (on SQLite: this session holds the write lock)
        self.receipt = receipt  # inserted with the write, so the COMMIT's outcome can be read back
        # commit() follows write() at once, so the last write may go out with the COMMIT; not with a
        # receipt: one sent before a last write that matches nothing would commit without the write
        self.write_with_commit = write_with_commit and receipt is None and can_send_with_commit(conn)
        self.last_write: LastWrite | None = None

    @property
    def holds_write_lock(self) -> bool:
        return self.writing and self.txn is not None and self.txn.is_active

    def may_wait_for_write_lock(self, phase: str) -> bool:
        """A single-writer database (SQLite): whether the phase under way sends something that waits
        for the write lock. A read waits when it begins IMMEDIATE, or where the journal mode makes
        reads wait; a COMMIT when the last write goes out with it, or where the journal mode makes
        a COMMIT wait for readers."""
        if phase == "read":
            return (self.strategy.lock_on_read and self.scope != "separate") or self.backend.reads_wait_for_writer
        if phase == "commit":
            return self.last_write is not None or self.backend.commit_waits_for_readers
        return True

    def _fail(self, exc: DBAPIError) -> Attempt:
        self.abort()
        return Attempt("fail", self.snapshot, reason=self.backend.classify(exc), error=short_error(exc))

    def read(self) -> Attempt | None:
        if not self.strategy.expressible(self.op.intent):
            return Attempt(
                "fail", reason="not-expressible", error=f"{self.strategy.spec} cannot express {self.op.name}"
            )
        try:
            if self.scope == "separate":
                with self.conn.begin():
                    self.snapshot = self.strategy.load(self.conn, self.tables, self.op.entity)
            else:
                # SQLite: a plain BEGIN is deferred, so a read that later writes can fail with SQLITE_BUSY
                # (the database's own refusal of the lost update); a locking read begins IMMEDIATE instead.
                self.txn = self.backend.begin_write(self.conn) if self.strategy.lock_on_read else self.conn.begin()
                self.writing = self.strategy.lock_on_read
                self.snapshot = self.strategy.load(self.conn, self.tables, self.op.entity)
        except DBAPIError as exc:
            return self._fail(exc)
        if self.snapshot is None:
            self.abort()
            return Attempt("fail", reason="missing", error=f"entity {self.op.entity} not found")
        return None

    def write(self) -> Attempt | None:
        assert self.snapshot is not None, "write before read"
        try:
            if self.txn is None:
                self.txn = self.backend.begin_write(self.conn)
                self.writing = True  # BEGIN IMMEDIATE returned: the lock is this session's
            result = self.strategy.save(self.conn, self.tables, self.snapshot, self.op.intent, utc_now())
            if isinstance(result, SaveOnCommit | FinishOnCommit):
                if self.write_with_commit:
                    self.last_write, self.written = result, result.written
                    return None
                result = run_now(self.conn, result)
            # only now: a write that waited in SQLite's busy handler held nothing while it waited
            self.writing = True
        except DBAPIError as exc:
            return self._fail(exc)
        except BaseException:
            self.abort()
            raise
        if isinstance(result, Conflict):
            self.abort()
            return Attempt("fail", self.snapshot, reason=result.reason)
        if self.receipt is not None:
            try:
                write_receipt(self.conn, self.receipt)
            except DBAPIError as exc:
                return self._fail(exc)
        self.written = result.written
        return None

    def commit(self) -> Attempt:
        assert self.txn is not None and self.written is not None, "commit before write"
        matched = None
        try:
            if self.last_write is not None:
                matched = send_with_commit(self.conn, self.last_write)
            self.txn.commit()  # after send_with_commit: SQLAlchemy's bookkeeping only, nothing is sent
        except StatementFailed as failed:
            return self._fail(failed.error)
        except DBAPIError as exc:
            self.abort()
            outcome: Outcome = "fail" if self.backend.definite_abort(exc) else "info"
            written = self.written if outcome == "info" else None  # what it stored, should it have committed
            return Attempt(outcome, self.snapshot, written, self.backend.classify(exc), short_error(exc))
        if matched == 0:  # the only write matched nothing: the strategy's conflict, and nothing was committed
            assert isinstance(self.last_write, SaveOnCommit)
            return Attempt("fail", self.snapshot, reason=self.last_write.reason)
        return Attempt("ok", self.snapshot, written=self.written)

    def run_through(self, think: Callable[[], None]) -> Attempt:
        """Read, think, write, commit back to back (stress mode)."""
        failed = self.read()
        if failed is not None:
            return failed
        think()
        return self.write() or self.commit()

    def abort(self) -> None:
        """Roll back whatever is open. An ORM Session that joined the transaction rolls it back itself
        when a flush fails (StaleDataError); if the connection is gone, the server rolled it back."""
        if self.txn is not None and self.txn.is_active:
            with contextlib.suppress(DBAPIError):
                self.txn.rollback()


def short_error(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else str(exc)[:200]
