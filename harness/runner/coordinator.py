"""The schedule coordinator: steps released one at a time, in the order a schedule gives.

In the spirit of PostgreSQL's isolationtester. Each session runs on its own connection and thread
(:class:`StepSession`). The coordinator releases exactly one step, then waits until it completes OR
is blocked, and only then releases the next. Blocking is read from the database, never guessed from
a sleep: ``pg_blocking_pids()`` on PostgreSQL, ``INNODB_LOCK_WAITS`` on MariaDB and MySQL 5.7,
``performance_schema.data_lock_waits`` on MySQL 8+; a session waiting for the harness's own
in-process lock (``process-lock``) is seen directly. Only where there is no lock view (SQLite) is a
step that has not finished after a bounded wait *assumed* blocked, and the transcript says so.
SQLite has one write lock per database and no view of it, but the harness knows who holds it: the
session with an open write transaction. A step that is not done while another session holds it
waits in SQLite's busy handler for that session.

A blocked session's later steps are postponed until it completes; the steps after them still run
in the given order (which is what lets the lock holder commit). When every remaining step belongs to
a blocked session, only the database can move on (its deadlock detector or lock timeout): the
coordinator waits for that, up to the step timeout, then cancels the waiting statements.
Deadlock victims and serialization failures end their operation as ``fail``; its remaining steps
are skipped.

The transcript reads like isolationtester's expected output: ``step B.write: <waiting on A>`` ...
``step B.write: <... completed> ...`` (:mod:`race_harness.runner.transcript` writes its values).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Backend
from race_harness.defaults import DEFAULT_STEP_TIMEOUT_S
from race_harness.entity import EntityTables
from race_harness.errors import UsageError, crash
from race_harness.history import History
from race_harness.operations import WriteOp
from race_harness.runner.app_steps import AppSteps, steps_for
from race_harness.runner.config import RunConfig
from race_harness.runner.inferred_lock import harness_id, inferred_holders
from race_harness.runner.statement_steps import StatementSteps
from race_harness.runner.steps import Attempt, OpSteps, short_error, should_retry
from race_harness.runner.stress import CellPlan
from race_harness.runner.transcript import describe_intent, describe_outcome, describe_read, describe_written
from race_harness.scenario import Scenario
from race_harness.schedule import Schedule, Step, is_statement_ref, session_index
from race_harness.statements import Statement
from race_harness.strategies.base import Strategy

NO_LOCK_VIEW_WAIT_S = 0.5  # without a lock view (SQLite), a step not done by then is assumed blocked
POLL_S = 0.002
SESSION_ID_KEY = "race_harness_session_id"
_LOCK_TYPE = type(threading.Lock())

Wait = Literal["done", "blocked", "assumed"]


class Runner(Protocol):
    """What a coordinator asks of the runner that made it
    (:class:`~race_harness.runner.schedule.ScheduleRunner`)."""

    backend: Backend
    config: RunConfig
    step_timeout: float
    strict_statements: bool

    def monitor(self, engine: Engine, *, fresh: bool = False) -> Connection: ...


class StepSession(threading.Thread):
    """One session: its own connection and thread, performing one write operation step by step."""

    def __init__(self, run: Coordinator, letter: str, op: WriteOp, conn: Connection) -> None:
        super().__init__(name=f"schedule-session-{letter}", daemon=True)
        self.run_, self.letter, self.op, self.conn = run, letter, op, conn
        self.index = session_index(letter)
        self._db_id = run.session_id(conn)
        self.inbox: queue.Queue[str | None] = queue.Queue()
        self.done = threading.Event()
        self.text = ""
        self.waiting_in_harness: str | None = None  # what the session waits for inside the harness
        self.holders: set[int] = set()  # who holds the lock it waits for, when the lock view says
        self.ended: Attempt | None = None
        self.attempts = 0
        self._invoke: int | None = None
        self._steps: OpSteps | AppSteps | None = None
        self._release_guard: Callable[[], object] | None = None
        # statement-level: the statement the last release sends waits for SQLite's write lock; set on
        # this thread just before it goes out (False until then: a coordinator that looks early sees
        # nothing under way)
        self.sending_write = False
        self.phase = ""  # phase-level: the step released last (read, write, commit)

    @property
    def db_id(self) -> int | None:
        """The server's id of the session's connection: the application's own, once its first
        statement went out, when it connects itself."""
        steps = self._steps
        if isinstance(steps, AppSteps) and steps.call.uses == "app":
            return steps.db_id
        return self._db_id

    @property
    def holds_write_lock(self) -> bool:
        steps = self._steps
        return steps is not None and self.ended is None and steps.holds_write_lock

    def release(self, name: str) -> None:
        self.done.clear()
        self.sending_write, self.phase = False, name
        self.inbox.put(name)

    def stop(self) -> None:
        self.inbox.put(None)

    def run(self) -> None:
        while (name := self.inbox.get()) is not None:
            try:
                self.text = self._step(name)
            except UsageError as exc:  # the scenario's set-up is wrong: the run ends with it, in one line
                self.run_.fatal.append(exc)
                self.text = f"error: {exc}"
                if self.ended is None:
                    self._end(Attempt("info", error=self.text))
            except Exception as exc:  # a harness error: recorded, the operation's outcome unknown
                self.run_.errors.append(f"session {self.letter} at {name}: {crash(exc)}")
                self.text = f"harness error: {type(exc).__name__}: {exc}"
                if self.ended is None:
                    self._end(Attempt("info", error=self.text))
            self.done.set()

    # --- steps ------------------------------------------------------------------------------------

    def _step(self, name: str) -> str:
        if self.run_.schedule.statement_level:
            return self._statement_step(name)
        if self.ended is not None:
            return f"skipped ({describe_outcome(self.ended)} earlier)"
        if name == "read":
            self._invoke = self.run_.history.invoke(self.index, "writer", self.op.name, self.op.entity, self.op.intent)
            self.attempts = 1
            self._enter_guard()
        ended = self._advance(name)
        text = self._describe(name, ended)
        while ended is not None and should_retry(ended, self.attempts, self.run_.strategy, self.run_.config):
            # the strategy (or --on-conflict retry) re-runs the operation now, up to this step
            self.attempts += 1
            self._abort()
            self._steps = None
            retried = describe_outcome(ended)
            ended = self._advance("read")
            for later in ("write", "commit")[: ("read", "write", "commit").index(name)]:
                ended = ended or self._advance(later)
            text = f"{retried}; attempt {self.attempts}: {self._describe(name, ended)}"
        if ended is not None:
            self._end(ended)
        return text

    def _statement_step(self, name: str) -> str:
        """Send the statement the call is held before, if it is the one the step names."""
        run = self.run_
        steps = self._steps
        if steps is None and self.ended is not None:  # ended before its call began (a set-up error)
            return f"skipped ({describe_outcome(self.ended)} earlier)"
        if steps is None:  # the session's first step: the call starts and runs up to its first statement
            self._invoke = run.history.invoke(self.index, "writer", self.op.name, self.op.entity, self.op.intent)
            self.attempts = 1
            self._enter_guard()
            steps = self._steps = StatementSteps(
                run.backend, run.tables, self.conn, self.op, run.history.now, session_letter=self.letter
            )
            ended = steps.begin()
            if ended is not None:
                self._end(ended)
                return f"ended before its first statement: {describe_outcome(ended)}"
        assert isinstance(steps, StatementSteps)
        held = steps.next
        n = len(steps.sent) + 1
        if held is None:  # the call ended; only its end can have made it so
            assert self.ended is not None
            if run.strict and self.ended.type == "ok":
                sent = " ".join(st.label for st in steps.sent)
                raise UsageError(
                    f"schedule step {self.letter}.{name}: session {self.letter} ({self.op.name}) sends only "
                    f"{len(steps.sent)} statements ({sent}); expected at most {self.letter}.{len(steps.sent)}"
                )
            return f"skipped ({describe_outcome(self.ended)} earlier)"
        if run.strict and name != str(n) and name != held.label:
            raise UsageError(
                f"schedule step {self.letter}.{name}: session {self.letter} ({self.op.name}) sends {held.label} as its "
                f"statement {n}; expected {self.letter}.{held.label} or {self.letter}.{n} there"
            )
        # a label a schedule cannot name (a SAVEPOINT, a SET) is written by its position
        run.executed.append(Step(self.letter, held.label if is_statement_ref(held.label) else str(n)))
        self.sending_write = steps.next_takes_lock
        ended = steps.step()
        said = "" if name == held.label else f"{held.label}: "  # A.3 says which statement it was
        if ended is not None:
            self._end(ended)
            return f"{said}{describe_outcome(ended)}"
        return f"{said}sent"

    @property
    def may_wait_for_write_lock(self) -> bool:
        """A single-writer database (SQLite): a step waits for the write lock only when what it sends
        takes it, by the backend's journal semantics (:attr:`Backend.reads_wait_for_writer`,
        :attr:`Backend.commit_waits_for_readers`; in WAL, writes and BEGIN IMMEDIATE only).

        The coordinator looks while the session's thread may not yet have taken the release up (a
        loaded machine widens that window): until it has, nothing is under way, so nothing waits.
        Judging by the statement released before once made a COMMIT look blocked by a waiting writer,
        and a slow plain read look blocked by the writer."""
        if self.run_.schedule.statement_level:
            return self.sending_write and not self.done.is_set()
        steps = self._steps
        if isinstance(steps, AppSteps):
            return steps.sending_write
        return steps is not None and steps.may_wait_for_write_lock(self.phase)

    @property
    def unfinished(self) -> bool:
        """A statement-level session whose call is still held before a statement."""
        steps = self._steps
        return isinstance(steps, StatementSteps) and self.ended is None and steps.next is not None

    @property
    def sent(self) -> list[Statement]:
        """Statement-level: the statements the session's call sent, in order."""
        steps = self._steps
        return list(steps.sent) if isinstance(steps, StatementSteps) else []

    def _advance(self, name: str) -> Attempt | None:
        run = self.run_
        if name == "read":
            if self.conn.invalidated:  # the connection died in an earlier attempt
                self.conn.close()
                self.conn = run.engine.connect()
            self._steps = steps_for(
                run.strategy, run.backend, run.tables, run.plan.scope, self.conn, self.op, clock=run.history.now
            )
            return self._steps.read()
        assert self._steps is not None
        if name == "write":
            ended = self._steps.write()
            if ended is None and run.schedule.commits_in_write(self.letter):
                return self._steps.commit()
            return ended
        return self._steps.commit()

    def _describe(self, name: str, ended: Attempt | None) -> str:
        steps = self._steps
        if ended is not None and ended.type == "ok":
            done = describe_written(ended.written or {}, ended.read, self.op.intent)
            return f"{done}; committed" if name == "write" else "committed"
        if ended is not None:
            return describe_outcome(ended)
        assert steps is not None
        if isinstance(steps, AppSteps):
            return steps.describe_stop()
        if name == "read":
            assert steps.snapshot is not None
            return describe_read(steps.snapshot, self.op)
        return describe_written(steps.written or {}, steps.snapshot, self.op.intent)

    def _enter_guard(self) -> None:
        """The strategy's in-process guard, held until the operation ends. A plain lock is tried
        first, so a session waiting for it is known to wait (the database cannot see this lock)."""
        guard: AbstractContextManager[object] | Any = self.run_.strategy.guard()
        if isinstance(guard, _LOCK_TYPE):
            if not guard.acquire(blocking=False):
                self.waiting_in_harness = "the in-process lock"
                guard.acquire()
                self.waiting_in_harness = None
            self._release_guard = guard.release
        else:
            guard.__enter__()
            self._release_guard = lambda: guard.__exit__(None, None, None)

    def _abort(self) -> None:
        if self._steps is not None:
            self._steps.abort()

    def _end(self, outcome: Attempt) -> None:
        self.ended = outcome
        self._abort()
        if self._release_guard is not None:
            self._release_guard()
            self._release_guard = None
        if self._invoke is not None:
            self.run_.history.complete(
                self._invoke,
                outcome.type,
                read=outcome.read,
                written=outcome.written,
                attempts=self.attempts,
                reason=outcome.reason,
                error=outcome.error,
                read_at=outcome.read_at,
                write_at=outcome.write_at,
                statements=outcome.statements,
            )


class Coordinator:
    """One schedule on one prepared database: sessions, the coordinator loop, the transcript."""

    def __init__(
        self,
        runner: Runner,
        schedule: Schedule,
        scenario: Scenario,
        strategy: Strategy,
        plan: CellPlan,
        engine: Engine,
        tables: EntityTables,
        finish_order: list[str] | None = None,
    ) -> None:
        self.runner, self.schedule, self.scenario, self.strategy, self.plan = runner, schedule, scenario, strategy, plan
        self.backend, self.config, self.engine, self.tables = runner.backend, runner.config, engine, tables
        self.history = History()
        self.errors: list[str] = []
        self.fatal: list[UsageError] = []  # set-up errors of the scenario, raised once the sessions ended
        self.transcript: list[str] = [f"schedule: {schedule}"]
        self.order: list[Step] = []
        self.executed: list[Step] = []  # statement-level: each step as the label of what it sent
        self.strict = runner.strict_statements
        self.finish_order = finish_order
        self.lock_waits = self.assumed_waits = self.canceled = 0
        self.monitor = runner.monitor(engine)
        # SQLite: the harness's own knowledge of who holds the database's single write lock
        self.write_lock_view = self.backend.single_writer
        self.sessions: dict[str, StepSession] = {}
        try:
            self.has_lock_view = self.write_lock_view or self.backend.lock_waits(self.monitor, []) is not None
        except DBAPIError as exc:  # e.g. MySQL without the PROCESS privilege
            self.has_lock_view = False
            self.transcript.append(f"note: no lock view ({short_error(exc)}); blocked steps are assumed by timeout")

    def statements(self) -> dict[str, list[Statement]]:
        """Statement-level: what each session sent, in order."""
        return {letter: session.sent for letter, session in self.sessions.items() if session.sent}

    def session_id(self, conn: Connection) -> int | None:
        info = conn.info
        if SESSION_ID_KEY not in info:
            with conn.begin():
                info[SESSION_ID_KEY] = self.backend.session_id(conn)
        return info[SESSION_ID_KEY]  # type: ignore[no-any-return]

    def execute(self) -> None:
        letters = self.schedule.sessions
        ops = {
            s: self.scenario.schedule_write(session_index(s), self.schedule.operation(s), len(letters)) for s in letters
        }
        for s in letters:
            self.transcript.append(f"session {s}: {ops[s].name} {describe_intent(ops[s])}")
        sessions = self.sessions = {s: StepSession(self, s, ops[s], self.engine.connect()) for s in letters}
        for session in sessions.values():
            session.start()
        try:
            self._coordinate(sessions)
        finally:
            for session in sessions.values():
                session.stop()
            for session in sessions.values():
                session.join(timeout=DEFAULT_STEP_TIMEOUT_S)
                session.conn.close()
                if session.is_alive():
                    self.errors.append(f"session {session.letter} did not stop")

    # --- the coordinator --------------------------------------------------------------------------

    def _coordinate(self, sessions: dict[str, StepSession]) -> None:
        pending = list(self.schedule.steps)
        blocked: dict[str, Step] = {}
        timeout = self.runner.step_timeout
        while pending:
            step = next((st for st in pending if st.session not in blocked), None)
            if step is None and self.schedule.statement_level:
                # a session whose scheduled steps are all done may hold the lock the others wait for:
                # its statements after the schedule go now, as they would at the end
                scheduled = {st.session for st in pending}
                free = [x for k, x in sorted(sessions.items()) if k not in scheduled | set(blocked) and x.unfinished]
                if free:
                    self._extra_step(free[0], sessions, blocked, timeout)
                    continue
            if step is None:  # only the database can move on now: deadlock detector or lock timeout
                if not self._wait_any(sessions, blocked, timeout):
                    self._cancel(sessions, blocked)
                continue
            pending.remove(step)
            self._release(step, sessions, blocked, timeout)
        if self.schedule.statement_level:
            self._finish_statements(sessions, blocked, timeout)
        while blocked:
            if not self._wait_any(sessions, blocked, timeout):
                self._cancel(sessions, blocked)

    def _finish_statements(self, sessions: dict[str, StepSession], blocked: dict[str, Step], timeout: float) -> None:
        """The statements after each session's last scheduled step, one at a time, session by session
        (in ``finish_order`` when given), a blocked one's turn passed to the next."""
        order = self.finish_order or sorted(sessions)
        while True:
            live = [sessions[s] for s in order if sessions[s].unfinished and s not in blocked]
            if live:
                self._extra_step(live[0], sessions, blocked, timeout)
            elif blocked:
                if not self._wait_any(sessions, blocked, timeout):
                    self._cancel(sessions, blocked)
            else:
                return

    def _extra_step(
        self, session: StepSession, sessions: dict[str, StepSession], blocked: dict[str, Step], timeout: float
    ) -> None:
        """One statement after the session's scheduled steps: released, awaited, written down."""
        step = Step(session.letter, str(len(session.sent) + 1))
        strict, self.strict = self.strict, False
        try:
            self._release(step, sessions, blocked, timeout, " (after the schedule)")
        finally:
            self.strict = strict

    def _release(
        self, step: Step, sessions: dict[str, StepSession], blocked: dict[str, Step], timeout: float, note: str = ""
    ) -> None:
        """Release one step, wait until it is done or seen blocked, write it down, settle the others."""
        self.order.append(step)
        session = sessions[step.session]
        session.release(step.name)
        state = self._await(session, timeout)
        if state == "done":
            self.transcript.append(f"step {step}{note}: {session.text}")
        else:
            blocked[step.session] = step
            self.transcript.append(f"step {step}{note}: {self._waiting(session, sessions, state)}")
        self._settle(sessions, blocked)

    def _await(self, session: StepSession, limit: float, *, name_holders: bool = True) -> Wait:
        """Until the step completes or is seen blocked; "assumed" when neither shows in time.
        ``name_holders`` False: a wait already written down is only confirmed, its holders not asked
        for again (on MariaDB each ask may wait for InnoDB's lock cache)."""
        started = time.monotonic()
        session.holders = set()
        if session.done.wait(POLL_S):
            return "done"
        if not self.has_lock_view:
            limit = min(limit, NO_LOCK_VIEW_WAIT_S)
        while True:
            if session.waiting_in_harness:
                return "blocked"
            if self.write_lock_view:  # the harness is the lock view (SQLite)
                holders = inferred_holders(session, self.sessions.values())
                if holders and not session.done.is_set():
                    session.holders = holders
                    return "blocked"
            elif self.has_lock_view and session.db_id is not None:
                waits = self._lock_waits(session.db_id, name_holders)
                if session.db_id in waits and not session.done.is_set():
                    session.holders = waits[session.db_id]
                    return "blocked"
            if session.done.wait(POLL_S):
                return "done"
            if time.monotonic() - started >= limit:
                return "assumed"

    def _lock_waits(self, db_id: int, holders: bool) -> dict[int, set[int]]:
        """The lock view for one session. A monitor connection that died (a killed backend, a
        restarted server) is replaced once; if the view still cannot be read, the rest of the run
        goes on without it (blocked steps assumed by timeout, and the transcript says so)."""
        for attempt in (1, 2):
            try:
                return self.backend.lock_waits(self.monitor, [db_id], holders=holders) or {}
            except DBAPIError as exc:
                if attempt == 1:
                    with contextlib.suppress(DBAPIError):
                        self.monitor = self.runner.monitor(self.engine, fresh=True)
                        continue
                self.has_lock_view = False
                self.transcript.append(f"note: the lock view failed ({short_error(exc)}); blocked steps are assumed")
        return {}

    def _waiting(self, session: StepSession, sessions: dict[str, StepSession], state: Wait) -> str:
        if state == "assumed":
            self.assumed_waits += 1
            why = "no lock view" if not self.has_lock_view else "not seen in the lock view"
            return f"<waiting ...> (assumed: {why}; not done after {self._limit():.2f} s)"
        self.lock_waits += 1
        if session.waiting_in_harness:
            return f"<waiting ...> (on {session.waiting_in_harness})"
        by_id = {s.db_id: s.letter for s in sessions.values() if s.db_id is not None}
        by_id.update({harness_id(s): s.letter for s in sessions.values()})
        holders = sorted(by_id.get(h, f"connection {h}") for h in session.holders)
        return f"<waiting ...> (lock held by {', '.join(holders)})" if holders else "<waiting ...>"

    def _limit(self) -> float:
        return self.runner.step_timeout if self.has_lock_view else NO_LOCK_VIEW_WAIT_S

    def _settle(self, sessions: dict[str, StepSession], blocked: dict[str, Step]) -> None:
        """After a step, each blocked step either completes or is confirmed still blocked, so the next
        step is released into a known state (isolationtester does the same)."""
        for letter, step in list(blocked.items()):
            session = sessions[letter]
            if self._await(session, self._limit(), name_holders=False) == "done":
                del blocked[letter]
                self.transcript.append(f"step {step}: <... completed> {session.text}")

    def _wait_any(self, sessions: dict[str, StepSession], blocked: dict[str, Step], limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for letter, step in list(blocked.items()):
                if sessions[letter].done.is_set():
                    del blocked[letter]
                    self.transcript.append(f"step {step}: <... completed> {sessions[letter].text}")
                    self._settle(sessions, blocked)
                    return True
            time.sleep(POLL_S)
        return False

    def _cancel(self, sessions: dict[str, StepSession], blocked: dict[str, Step]) -> None:
        """The last resort: a step still blocked after the step timeout is canceled, and says so."""
        for letter, step in list(blocked.items()):
            session = sessions[letter]
            if session.db_id is not None:
                try:
                    self.backend.cancel(self.monitor, session.db_id)
                except DBAPIError as exc:  # the monitor died too: the step is left to its own timeouts
                    self.transcript.append(f"note: could not cancel step {step}: {short_error(exc)}")
            finished = session.done.wait(DEFAULT_STEP_TIMEOUT_S)
            self.canceled += 1
            del blocked[letter]
            text = session.text if finished else "still running"
            self.transcript.append(f"step {step}: <... canceled after {self.runner.step_timeout:.1f} s> {text}")
            if not finished:
                self.errors.append(f"step {step} did not end after it was canceled")
