"""One call of an application function held before every statement it sends: statement-level steps.

:class:`~race_harness.runner.app_steps.AppSteps` stops a call at two boundaries (its first write and
its COMMIT); this stops it before *every* statement and every COMMIT, seen where every driver path
passes (SQLAlchemy's ``before_cursor_execute`` and ``commit`` events, and the psycopg / PyMySQL /
sqlite3 connection proxy for code that uses the driver directly). The call runs on a thread of its
own; each :meth:`step` lets the statement it is held before go to the database and runs the
application's Python code after it, up to the next statement (or the call's end). The statement's
label and footprint (:mod:`race_harness.statements`) are known while it is held, before it is sent.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from race_harness.errors import UsageError
from race_harness.runner.app_steps import AppSteps, is_write, takes_write_lock
from race_harness.runner.steps import Attempt
from race_harness.schedule import MAX_STATEMENTS
from race_harness.statements import COMMIT, Statement, statement_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class TooManyStatements(UsageError):
    """A session sent more statements than a statement-level schedule may hold."""


class StatementSteps(AppSteps):
    """The call stopped before each statement; :attr:`next` is the one it is held before."""

    def __init__(self, *args: Any, session_letter: str = "A", limit: int = MAX_STATEMENTS) -> None:
        super().__init__(*args)
        self.letter, self.limit = session_letter, limit
        self.next: Statement | None = None  # the statement the call is held before
        self.sent: list[Statement] = []  # released so far, in order
        self._txn_wrote = False  # a write of the open transaction completed (SQLite's write lock is the call's)
        self._write_out = False  # the statement released last writes; done once the call is held again
        self.next_takes_lock = False  # the statement held before waits for SQLite's write lock when sent
        self._txn_open = False  # a statement went out since the last COMMIT
        self.pause = self._hold

    # --- boundaries, on the call's thread --------------------------------------------------------------

    def before_statement(self, statement: str, context: Any = None) -> None:
        compiled = getattr(context, "compiled", None)
        bound = getattr(context, "compiled_parameters", None) or [None]
        self.next_takes_lock = takes_write_lock(statement, self.backend)
        # one set of bound values names the rows; an executemany's several are every row (None)
        self._before(statement_of(statement, compiled, bound[0] if len(bound) == 1 else None))
        self._txn_open = True
        self._write_out = self.next_takes_lock
        if is_write(statement):
            self._wrote = True
            self.stage = "write"

    def before_commit(self) -> None:
        self.next_takes_lock = self.backend.commit_waits_for_readers  # a COMMIT waits only in some journals
        self._before(COMMIT)
        if self._wrote:
            self.committing = True  # an error from here on may come after the COMMIT applied
        self._txn_wrote = self._txn_open = False

    def _before(self, statement: Statement) -> None:
        # the statement before this one has returned: a write that waited in SQLite's busy handler
        # holds the write lock only from now (while it waited, the lock was another session's)
        self._txn_wrote = self._txn_wrote or self._write_out
        self._write_out = False
        if len(self.sent) >= self.limit:
            raise TooManyStatements(
                f"session {self.letter} ({self.op.name}) sent more than {self.limit} statements "
                f"(statement {self.limit + 1}: {statement.label}); expected at most {self.limit} in a "
                "statement-level schedule"
            )
        self.next = statement
        self._hold("statement")
        self.sent.append(statement)
        self.next = None

    def _finish(self, session: Session | None, handle: Any) -> None:
        """As the base class, without its explicit commit boundary: here the COMMIT event itself holds."""
        self.committing = self.committing or self._wrote
        if session is not None:
            if session.in_transaction():
                session.commit()
        elif self.call.uses == "dbapi" and self._txn_open:  # a driver cannot say; what it sent can
            handle.commit()
        elif self.call.uses == "connection" and self.conn.in_transaction():
            self.conn.commit()

    # --- the coordinator's side -----------------------------------------------------------------------

    def begin(self) -> Attempt | None:
        """Start the call; it runs up to its first statement (None) or ends without one (its Attempt)."""
        self._thread = threading.Thread(target=self._work, name=f"app-{self.op.name}-{self.letter}", daemon=True)
        self._thread.start()
        return self._until()

    def step(self) -> Attempt | None:
        """Send the statement held before, run on to the next: None while held again, else the end."""
        return self._resume()

    @property
    def holds_write_lock(self) -> bool:
        return self._txn_wrote and self._at != "end"

    def describe_stop(self) -> str:
        return f"held before {self.next.label}" if self.next is not None else f"{self.call.name} ran on"


__all__ = ["StatementSteps", "TooManyStatements"]
