"""The schedule runner: steps released one at a time, in the order a schedule gives.

In the spirit of PostgreSQL's isolationtester. Each session runs on its own connection and thread.
The coordinator releases exactly one step, then waits until it completes OR is blocked, and only
then releases the next. Blocking is read from the database, never guessed from a sleep:
``pg_blocking_pids()`` on PostgreSQL, ``INNODB_LOCK_WAITS`` on MariaDB and MySQL 5.7,
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
``step B.write: <... completed> ...``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Backend, Isolation, ScratchDatabase
from race_harness.defaults import DEFAULT_STEP_TIMEOUT_S
from race_harness.entity import EntityTables
from race_harness.errors import UsageError, crash, shown
from race_harness.events import Written
from race_harness.history import History
from race_harness.model import Intent, Snapshot, State, Value, is_kv, kv_key
from race_harness.operations import WriteOp
from race_harness.runner.app_steps import AppSteps, configure_app, dispose_app_engines, steps_for
from race_harness.runner.config import RunConfig
from race_harness.runner.statement_steps import StatementSteps
from race_harness.runner.steps import Attempt, OpSteps, short_error, should_retry
from race_harness.runner.stress import CellPlan, plan_cell
from race_harness.scenario import Scenario
from race_harness.schedule import Schedule, Step, is_statement_ref, session_index
from race_harness.statements import Statement
from race_harness.strategies.base import Strategy
from race_harness.strategies.registry import strategy_ref

if TYPE_CHECKING:
    from race_harness.checkers import CheckResult

NO_LOCK_VIEW_WAIT_S = 0.5  # without a lock view (SQLite), a step not done by then is assumed blocked
POLL_S = 0.002
SESSION_ID_KEY = "race_harness_session_id"
# timestamp-occ:0 needs the whole schedule inside one wall-clock second: start in its first
# SECOND_START_BY, finish before SECOND_END_BY (PostgreSQL timestamp(0) rounds .5 up to the next second)
SECOND_START_BY = 0.3
SECOND_END_BY = 0.5
# a run that did not fit in its second proves nothing either way: run it again, at most this often
SECOND_ATTEMPTS = 3
_LOCK_TYPE = type(threading.Lock())

Wait = Literal["done", "blocked", "assumed"]


@dataclass
class ScheduleResult:
    """One schedule run: the transcript, the history the checker judged, and how the steps went."""

    schedule: Schedule
    scenario: str
    strategy: str
    database: str
    db_spec: str
    plan: CellPlan
    transcript: list[str]
    order: list[Step]  # the order the steps were released in (blocked sessions' steps postponed)
    history: History
    initial: dict[int, State]
    final: dict[int, State]
    result: CheckResult
    lock_waits: int = 0  # steps seen waiting in the database's lock view (or on the in-process lock)
    assumed_waits: int = 0  # steps only assumed blocked after a timeout: no lock view, or not seen in it
    canceled: int = 0  # steps the coordinator had to cancel
    harness_errors: list[str] = field(default_factory=list)
    same_second: bool | None = None  # whole-second timestamps: did every write fall in one second?
    # what -s / -S take to find the scenario and strategy again (an import path for a project's own)
    scenario_ref: str | None = None
    strategy_ref: str | None = None
    executed: list[Step] = field(default_factory=list)  # statement-level: every step, by the label it sent
    statements: dict[str, list[Statement]] = field(default_factory=dict)  # statement-level: each session's

    @property
    def executed_schedule(self) -> Schedule:
        """Statement-level: the schedule as it ran, every statement named by its label, the ones run
        after the given steps included; replayed, it runs the same way every time."""
        if not self.executed:
            return self.schedule
        return Schedule(tuple(self.executed), self.schedule.operations)

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def lost(self) -> bool:
        return self.result.verdict == "lost-updates"

    @property
    def interleaved(self) -> bool:
        """Writes of different sessions overlapped in time: the race had a chance to happen."""
        return self.result.stats.overlapping_write_pairs > 0

    def replay_command(self, repeat: int | None = None) -> str:
        from race_harness.reproduce import replay_command

        return replay_command(
            self.scenario_ref or self.scenario,
            self.strategy_ref or self.strategy,
            self.db_spec,
            self.schedule,
            isolation=self.plan.isolation,
            scope=self.plan.scope,
            repeat=repeat,
        )

    def format(self) -> str:
        lines = [*self.transcript]
        r = self.result
        # a failing verdict with nothing counted lost (a broken invariant, a counter that moved too far) says why
        found = sorted({a.kind for a in r.failures}) if r.failures and not r.lost_writes else []
        extra = f"; {', '.join(found)}" if found else ""
        lines.append(f"verdict: {r.verdict} ({r.lost_writes} lost of {r.acknowledged} acknowledged{extra})")
        lines += [f"- {a.explanation}" for a in (r.failures or r.anomalies)[:3]]
        lines += [f"harness error: {e}" for e in self.harness_errors]
        return "\n".join(lines)


class _Session(threading.Thread):
    """One session: its own connection and thread, performing one write operation step by step."""

    def __init__(self, run: _Run, letter: str, op: WriteOp, conn: Connection) -> None:
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
            return f"skipped ({_outcome(self.ended)} earlier)"
        if name == "read":
            self._invoke = self.run_.history.invoke(self.index, "writer", self.op.f, self.op.entity, self.op.intent)
            self.attempts = 1
            self._enter_guard()
        ended = self._advance(name)
        text = self._describe(name, ended)
        while ended is not None and should_retry(ended, self.attempts, self.run_.strategy, self.run_.config):
            # the strategy (or --on-conflict retry) re-runs the operation now, up to this step
            self.attempts += 1
            self._abort()
            self._steps = None
            retried = _outcome(ended)
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
            return f"skipped ({_outcome(self.ended)} earlier)"
        if steps is None:  # the session's first step: the call starts and runs up to its first statement
            self._invoke = run.history.invoke(self.index, "writer", self.op.f, self.op.entity, self.op.intent)
            self.attempts = 1
            self._enter_guard()
            steps = self._steps = StatementSteps(
                run.backend, run.tables, self.conn, self.op, run.history.now, session_letter=self.letter
            )
            ended = steps.begin()
            if ended is not None:
                self._end(ended)
                return f"ended before its first statement: {_outcome(ended)}"
        assert isinstance(steps, StatementSteps)
        held = steps.next
        n = len(steps.sent) + 1
        if held is None:  # the call ended; only its end can have made it so
            assert self.ended is not None
            if run.strict and self.ended.type == "ok":
                sent = " ".join(st.label for st in steps.sent)
                raise UsageError(
                    f"schedule step {self.letter}.{name}: session {self.letter} ({self.op.f}) sends only "
                    f"{len(steps.sent)} statements ({sent}); expected at most {self.letter}.{len(steps.sent)}"
                )
            return f"skipped ({_outcome(self.ended)} earlier)"
        if run.strict and name != str(n) and name != held.label:
            raise UsageError(
                f"schedule step {self.letter}.{name}: session {self.letter} ({self.op.f}) sends {held.label} as its "
                f"statement {n}; expected {self.letter}.{held.label} or {self.letter}.{n} there"
            )
        # a label a schedule cannot name (a SAVEPOINT, a SET) is written by its position
        run.executed.append(Step(self.letter, held.label if is_statement_ref(held.label) else str(n)))
        self.sending_write = steps.next_takes_lock
        ended = steps.step()
        said = "" if name == held.label else f"{held.label}: "  # A.3 says which statement it was
        if ended is not None:
            self._end(ended)
            return f"{said}{_outcome(ended)}"
        return f"{said}sent"

    @property
    def may_wait_for_write_lock(self) -> bool:
        """SQLite: a step waits for the write lock only when what it sends writes (in WAL mode a read
        never waits for the writer, nor a COMMIT); a phase-level read only when it begins IMMEDIATE.

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
            done = _written(ended.written or {}, ended.read, self.op.intent)
            return f"{done}; committed" if name == "write" else "committed"
        if ended is not None:
            return _outcome(ended)
        assert steps is not None
        if isinstance(steps, AppSteps):
            return steps.describe_stop()
        if name == "read":
            assert steps.snapshot is not None
            return _read(steps.snapshot, self.op)
        return _written(steps.written or {}, steps.snapshot, self.op.intent)

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


class _Run:
    """One schedule on one prepared database: sessions, the coordinator loop, the transcript."""

    def __init__(
        self,
        runner: ScheduleRunner,
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
        self.write_lock_view = self.backend.family == "sqlite"
        self.sessions: dict[str, _Session] = {}
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
            self.transcript.append(f"session {s}: {ops[s].f} {_intent(ops[s])}")
        sessions = self.sessions = {s: _Session(self, s, ops[s], self.engine.connect()) for s in letters}
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

    def _coordinate(self, sessions: dict[str, _Session]) -> None:
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

    def _finish_statements(self, sessions: dict[str, _Session], blocked: dict[str, Step], timeout: float) -> None:
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
        self, session: _Session, sessions: dict[str, _Session], blocked: dict[str, Step], timeout: float
    ) -> None:
        """One statement after the session's scheduled steps: released, awaited, written down."""
        step = Step(session.letter, str(len(session.sent) + 1))
        strict, self.strict = self.strict, False
        try:
            self._release(step, sessions, blocked, timeout, " (after the schedule)")
        finally:
            self.strict = strict

    def _release(
        self, step: Step, sessions: dict[str, _Session], blocked: dict[str, Step], timeout: float, note: str = ""
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

    def _await(self, session: _Session, limit: float) -> Wait:
        """Until the step completes or is seen blocked; "assumed" when neither shows in time."""
        started = time.monotonic()
        session.holders = set()
        if session.done.wait(POLL_S):
            return "done"
        if not self.has_lock_view:
            limit = min(limit, NO_LOCK_VIEW_WAIT_S)
        while True:
            if session.waiting_in_harness:
                return "blocked"
            if self.write_lock_view and session.may_wait_for_write_lock:
                holders = [s for s in self.sessions.values() if s is not session and s.holds_write_lock]
                if holders and not session.done.is_set():
                    session.holders = {-s.index - 1 for s in holders}  # harness ids: not server connection ids
                    return "blocked"
            elif self.has_lock_view and session.db_id is not None:
                waits = self._lock_waits(session.db_id)
                if session.db_id in waits and not session.done.is_set():
                    session.holders = waits[session.db_id]
                    return "blocked"
            if session.done.wait(POLL_S):
                return "done"
            if time.monotonic() - started >= limit:
                return "assumed"

    def _lock_waits(self, db_id: int) -> dict[int, set[int]]:
        """The lock view for one session. A monitor connection that died (a killed backend, a
        restarted server) is replaced once; if the view still cannot be read, the rest of the run
        goes on without it (blocked steps assumed by timeout, and the transcript says so)."""
        for attempt in (1, 2):
            try:
                return self.backend.lock_waits(self.monitor, [db_id]) or {}
            except DBAPIError as exc:
                if attempt == 1:
                    with contextlib.suppress(DBAPIError):
                        self.monitor = self.runner.monitor(self.engine, fresh=True)
                        continue
                self.has_lock_view = False
                self.transcript.append(f"note: the lock view failed ({short_error(exc)}); blocked steps are assumed")
        return {}

    def _waiting(self, session: _Session, sessions: dict[str, _Session], state: Wait) -> str:
        if state == "assumed":
            self.assumed_waits += 1
            why = "no lock view" if not self.has_lock_view else "not seen in the lock view"
            return f"<waiting ...> (assumed: {why}; not done after {self._limit():.2f} s)"
        self.lock_waits += 1
        if session.waiting_in_harness:
            return f"<waiting ...> (on {session.waiting_in_harness})"
        by_id = {s.db_id: s.letter for s in sessions.values() if s.db_id is not None}
        by_id.update({-s.index - 1: s.letter for s in sessions.values()})
        holders = sorted(by_id.get(h, f"connection {h}") for h in session.holders)
        return f"<waiting ...> (lock held by {', '.join(holders)})" if holders else "<waiting ...>"

    def _limit(self) -> float:
        return self.runner.step_timeout if self.has_lock_view else NO_LOCK_VIEW_WAIT_S

    def _settle(self, sessions: dict[str, _Session], blocked: dict[str, Step]) -> None:
        """After a step, each blocked step either completes or is confirmed still blocked, so the next
        step is released into a known state (isolationtester does the same)."""
        for letter, step in list(blocked.items()):
            session = sessions[letter]
            if self._await(session, self._limit()) == "done":
                del blocked[letter]
                self.transcript.append(f"step {step}: <... completed> {session.text}")

    def _wait_any(self, sessions: dict[str, _Session], blocked: dict[str, Step], limit: float) -> bool:
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

    def _cancel(self, sessions: dict[str, _Session], blocked: dict[str, Step]) -> None:
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


class ScheduleRunner:
    """Runs schedules on one backend, reusing one scratch database (created on enter, dropped on exit)
    so that hundreds of generated schedules cost rows, not databases."""

    def __init__(self, backend: Backend, config: RunConfig | None = None, step_timeout: float | None = None) -> None:
        self.backend = backend
        self.config = config or RunConfig()
        self.step_timeout = DEFAULT_STEP_TIMEOUT_S if step_timeout is None else step_timeout
        if not self.step_timeout > 0:
            raise UsageError(f"expected a positive number of seconds but got step_timeout={step_timeout!r}")
        self._scratch: ScratchDatabase | None = None
        self._open = False
        self._engines: dict[tuple[Isolation, bool], Engine] = {}
        self._monitors: dict[int, Connection] = {}
        self._tables: dict[str, EntityTables] = {}  # table name -> the tables holding it
        # statement-level: a step naming a statement the session does not send there is an error
        # (what a person wrote); the explorer turns it off, for a path that came out shorter
        self.strict_statements = True
        # seconds spent making the application's schema and configuring it: work no bound counts
        # (an exploration's --max-seconds bounds its interleavings, not the application's migrations)
        self.setup_seconds = 0.0

    def __enter__(self) -> ScheduleRunner:
        self._open = True  # the scratch database is made by the first run, which knows its scenario
        return self

    def _database(self, scenario: Scenario) -> ScratchDatabase:
        """The runner's scratch database, made on first use; for an application that connects itself,
        under its scenario's stable name (:attr:`Scenario.database_key`): configured once per process."""
        if not self._open:
            raise UsageError("ScheduleRunner is used outside its `with` block")
        if self._scratch is None:
            self._scratch = self.backend.scratch_for(scenario.database_key, scenario.tables(0).template())
            self.setup_seconds += self._scratch.setup_seconds
        return self._scratch

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._open = False
        for monitor in self._monitors.values():
            monitor.close()
        for engine in self._engines.values():
            engine.dispose()
        self._monitors.clear()
        self._engines.clear()
        dispose_app_engines()
        if self._scratch is not None:
            self._scratch.drop()
            self._scratch = None

    def _engine(self, isolation: Isolation, app: bool = False) -> Engine:
        """One engine per isolation level; application code gets the driver's own transactions."""
        if self._scratch is None:
            raise UsageError("ScheduleRunner is used outside its `with` block")
        if (isolation, app) not in self._engines:
            self._engines[isolation, app] = self._scratch.engine(16, isolation, driver_transactions=app)
        return self._engines[isolation, app]

    def monitor(self, engine: Engine, *, fresh: bool = False) -> Connection:
        """An autocommit connection for the lock view, one per engine; ``fresh`` replaces a broken one."""
        if fresh and id(engine) in self._monitors:
            with contextlib.suppress(Exception):
                self._monitors.pop(id(engine)).close()
        if id(engine) not in self._monitors:
            self._monitors[id(engine)] = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._monitors[id(engine)]

    def _fresh_tables(
        self, engine: Engine, scenario: Scenario, precision: int
    ) -> tuple[EntityTables, dict[int, State]]:
        """The scenario's tables holding exactly the initial state (created, or emptied and reseeded),
        and that state. Tables of another shape under the same names are dropped first."""
        tables = scenario.tables(precision)
        names = set(tables.metadata.tables)
        known = {id(k): k for name, k in self._tables.items() if name in names}
        with engine.begin() as conn:
            if len(known) == 1 and _same_shape(next(iter(known.values())), tables):
                self._tables.update(dict.fromkeys(names, tables))
                # the scenario's own seed (another's may differ), on what the schema's set-up left
                return tables, tables.reload(conn, self._reset(tables))
            started = time.monotonic()
            for old in known.values():
                old.metadata.drop_all(conn)
                for name in old.metadata.tables:
                    self._tables.pop(name, None)
            # the first tables of a database copied from their template are there already
            made = not self._tables and self._scratch is not None and self._scratch.schema_made
            initial = tables.create(conn, self._remember(tables), made=made)
            self.setup_seconds += time.monotonic() - started
        self._tables.update(dict.fromkeys(names, tables))
        return tables, initial

    def _pristine_key(self, tables: EntityTables) -> str | None:
        """Under what the backend keeps what the application's schema set-up left in the database
        (rows a data migration wrote, counters), which each repetition starts from; None for the
        harness's own tables, which start empty."""
        if tables.entity.create is None or self._scratch is None:
            return None
        return self._scratch.template or f"database {self._scratch.name}"

    def _remember(self, tables: EntityTables) -> Callable[[], object] | None:
        key, scratch = self._pristine_key(tables), self._scratch
        if key is None or scratch is None:
            return None
        return lambda: self.backend.remember(key, scratch.name)

    def _reset(self, tables: EntityTables) -> Callable[[], bool] | None:
        key, scratch = self._pristine_key(tables), self._scratch
        if key is None or scratch is None:
            return None
        return lambda: self.backend.reset_copy(key, scratch.name)

    def run(
        self, schedule: Schedule | str, scenario: Scenario, strategy: Strategy, *, finish_order: list[str] | None = None
    ) -> ScheduleResult:
        """Run the schedule once. With whole-second timestamps a run whose steps did not fit in one
        wall-clock second (a loaded machine) is run again, up to :data:`SECOND_ATTEMPTS` times; a
        result with ``same_second`` False is one that never fitted, to be set aside, not counted."""
        out = self._run_once(schedule, scenario, strategy, finish_order)
        for attempt in range(2, SECOND_ATTEMPTS + 1):
            if out.same_second is not False:
                break
            out = self._run_once(schedule, scenario, strategy, finish_order)
            out.transcript.append(f"note: attempt {attempt}: the earlier ones did not fit in one second")
        return out

    def _run_once(
        self, schedule: Schedule | str, scenario: Scenario, strategy: Strategy, finish_order: list[str] | None
    ) -> ScheduleResult:
        if isinstance(schedule, str):
            schedule = Schedule.parse(schedule)
        if schedule.statement_level and not scenario.is_app:
            raise UsageError(
                f"schedule {shown(str(schedule))} names statements, but scenario {scenario.name!r} runs a strategy's "
                "read, write and commit phases; statement steps need an application's own functions (operation(...))"
            )
        for s in schedule.sessions:  # unknown operation names fail before anything runs
            scenario.schedule_write(session_index(s), schedule.operation(s), len(schedule.sessions))
        plan = plan_cell(strategy, self.backend, self.config)
        if isinstance(plan, str):
            raise UsageError(f"cannot run {scenario.name} x {strategy.spec} on {self.backend.label}: {plan}")
        self._database(scenario)
        engine = self._engine(plan.isolation, scenario.is_app)
        whole_seconds = strategy.timestamp_precision == 0
        with _one_second(whole_seconds) as window:
            tables, initial = self._fresh_tables(engine, scenario, strategy.timestamp_precision)
            if (
                scenario.configure is not None
                and self._scratch is not None
                and not scenario.configured_for(self._scratch.url)
            ):
                # again only if the application was pointed elsewhere since (another scenario's hook,
                # another runner's database); the engines it used are closed first
                dispose_app_engines()
                started = time.monotonic()
                configure_app(scenario, self._scratch.url)
                self.setup_seconds += time.monotonic() - started
            run = _Run(self, schedule, scenario, strategy, plan, engine, tables, finish_order)
            run.execute()
            if run.fatal:
                raise run.fatal[0]
        with engine.connect() as conn, conn.begin():
            final = tables.states(conn, scenario.entities)
        from race_harness.checkers import check  # NumPy: a replay loads it while it waits for its database

        result = check(run.history, initial, final, token=strategy.token, invariants=scenario.invariants)
        if run.errors:
            result.checker_errors.extend(f"runner: {e}" for e in run.errors)
            if result.verdict == "no-lost-updates":
                result.verdict = "inconclusive"
        out = ScheduleResult(
            schedule,
            scenario.name,
            strategy.spec,
            self.backend.label,
            self.backend.spec,
            plan,
            run.transcript,
            run.order,
            run.history,
            initial,
            final,
            result,
            run.lock_waits,
            run.assumed_waits,
            run.canceled,
            run.errors,
            window() if whole_seconds else None,
            scenario.ref,
            strategy_ref(strategy),
            run.executed,
            run.statements(),
        )
        if out.same_second is False:
            out.transcript.append("note: the steps did not fit in one whole second; whole-second timestamps may differ")
        return out


@contextmanager
def _one_second(align: bool) -> Iterator[Callable[[], bool]]:
    """With whole-second timestamps, start early in a wall-clock second so that loading the initial
    state and every step fall in that second (the Glance fix's flaw needs two writes in one second);
    yields a check of whether they did."""
    if align:
        frac = time.time() % 1
        if frac >= SECOND_START_BY:
            time.sleep(1 - frac + 0.001)
    started = time.time()
    ended: list[float] = []
    yield lambda: int(ended[0]) == int(started) and ended[0] % 1 < SECOND_END_BY
    ended.append(time.time())


def _same_shape(a: EntityTables, b: EntityTables) -> bool:
    """Whether ``a``'s tables in the database can hold ``b``'s rows: the same tables and columns."""
    return a.metadata is b.metadata or _ddl(a) == _ddl(b)


def _ddl(tables: EntityTables) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(t.name, [(c.name, repr(c.type)) for c in t.columns]) for t in tables.metadata.sorted_tables]


# --- transcript wording -------------------------------------------------------------------------


def _show(fld: str, value: Value | None) -> str:
    name = f"key {kv_key(fld)}" if is_kv(fld) else fld
    return f"deleted {name}" if value is None else f"{name}={value!r}"


def _intent(op: WriteOp) -> str:
    i = op.intent
    parts = [_show(f, v) for f, v in sorted(i.sets.items())]
    parts += [f"{f} += {d}" for f, d in sorted(i.increments.items())]
    if i.replace_children:
        parts.append("replacing all keys")
    return ", ".join(parts)


def _read(snapshot: Snapshot, op: WriteOp) -> str:
    fields = sorted(op.intent.fields - {f for f in op.intent.fields if is_kv(f)})
    shown = [f"{f}={snapshot.state.get(f)!r}" for f in fields]
    keys = sorted(kv_key(f) for f in snapshot.state if is_kv(f))
    if keys or any(is_kv(f) for f in op.intent.fields):
        shown.append(f"keys: {', '.join(keys) or 'none'}")
    return f"read version {snapshot.version} ({'; '.join(shown)})"


def _written(written: Written, snapshot: Snapshot | None, intent: Intent | None = None) -> str:
    before = snapshot.state if snapshot else {}
    changed = [_show(f, v) for f, v in sorted(written.items()) if v is None or before.get(f) != v]
    # a change the database computed (n = n + 1) stores no value of the call's own: shown as the change
    changed += [
        f"{f} {'+' if d > 0 else '-'}= {abs(d)} (computed by the database)"
        for f, d in sorted((intent.increments if intent else {}).items())
        if f not in written
    ]
    same = sum(1 for f, v in written.items() if v is not None and before.get(f) == v)
    text = "wrote " + (", ".join(changed) or "nothing new")
    # the columns a full-row write stores back unchanged: what a concurrent change to them is lost to
    return text + (f" and {same} other column{'s' if same != 1 else ''} back as read" if same else "")


def _outcome(attempt: Attempt) -> str:
    if attempt.type == "ok":
        return "committed"
    why = attempt.reason or "error"
    detail = f": {attempt.error}" if attempt.error and attempt.reason not in ("conflict",) else ""
    verb = "refused" if attempt.reason == "conflict" else "failed" if attempt.type == "fail" else "unknown outcome"
    return f"{verb} ({why}{detail})"


__all__ = ["DEFAULT_STEP_TIMEOUT_S", "ScheduleResult", "ScheduleRunner"]
