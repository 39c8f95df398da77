"""A schedule: the exact order in which sessions' steps run, as text a person can read and paste.

As in PostgreSQL's isolationtester, a schedule is one line of step names::

    A.read B.read A.write A.commit B.write B.commit

Sessions are capital letters. Each session performs one write operation in the steps ``read``,
``write`` and ``commit`` (see :mod:`race_harness.runner.steps`), in that order; a session that leaves out
``commit`` commits at the end of its ``write``, so ``A.read B.read A.write B.write`` is the shortest
form of the classic lost update. ``B=update_all`` picks the operation session B performs from the
scenario's named operations (the first one when not given).

For an application's own functions a schedule can also name the statements they send
(:mod:`race_harness.statements`): ``A.select:images B.select:images B.update:images B.commit
A.update:images A.commit``, or by position, ``A.1 B.1 B.2 B.3 A.2 A.3``. Each step lets the
session's next statement go and holds the session before the one after it; a session's statements
after its last scheduled step run at the end, session by session.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from race_harness.errors import UsageError, shown

SESSION_LETTERS = string.ascii_uppercase
STEPS = ("read", "write", "commit")
FULL = list(STEPS)
SHORT = ["read", "write"]  # the write commits
EXAMPLE = "A.read B.read A.write B.write"
MAX_STATEMENTS = 50  # statements one session may send in a statement-level schedule
_STATEMENT_REF = re.compile(r"^(?:\d+|commit|[a-z]+:[\w$]+)$")  # A.2, A.commit, A.update:images


def is_statement_ref(name: str) -> bool:
    """A step name for a statement: its position, ``commit``, or ``verb:table``."""
    return _STATEMENT_REF.match(name) is not None


@dataclass(frozen=True)
class Step:
    session: str
    name: str

    def __str__(self) -> str:
        return f"{self.session}.{self.name}"

    @property
    def is_statement(self) -> bool:
        """A statement step (``A.2``, ``A.update:images``), not a phase (read, write, commit)."""
        return self.name not in STEPS


def session_index(letter: str) -> int:
    """Session A is 0, B is 1, ...: the index the history and the unique values use."""
    return SESSION_LETTERS.index(letter)


@dataclass(frozen=True)
class Schedule:
    steps: tuple[Step, ...]
    # (session, operation name) for sessions that do not perform the scenario's default operation
    operations: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``"B=update_all A.read B.read A.write B.write"`` -> a Schedule; one-line UsageError otherwise."""
        steps: list[Step] = []
        operations: dict[str, str] = {}
        for token in text.split():
            session, eq, operation = token.partition("=")
            if eq:
                _check_session(session, token)
                if not operation:
                    raise UsageError(f"expected SESSION=OPERATION (e.g. B=update_all) but got {shown(token, 40)}")
                if session in operations:
                    raise UsageError(f"session {session} is given two operations: {operations[session]}, {operation}")
                operations[session] = operation
                continue
            session, dot, name = token.partition(".")
            if not dot or not (name in STEPS or is_statement_ref(name)):
                raise UsageError(
                    f"expected steps like A.read, A.write, A.commit, a statement like A.update:images or A.2 "
                    f"(or B=OPERATION) but got {shown(token, 40)} in schedule {shown(text.strip())}"
                )
            _check_session(session, token)
            steps.append(Step(session, name))
        return cls(tuple(steps), tuple(sorted(operations.items())))

    @property
    def sessions(self) -> list[str]:
        return sorted({s.session for s in self.steps})

    @property
    def statement_level(self) -> bool:
        """Steps are the statements an application sends (``A.update:images``), not phases."""
        return any(s.is_statement for s in self.steps)

    def steps_of(self, session: str) -> list[str]:
        return [s.name for s in self.steps if s.session == session]

    def commits_in_write(self, session: str) -> bool:
        return "commit" not in self.steps_of(session)

    def operation(self, session: str) -> str | None:
        """The operation named for ``session``, or None for the scenario's default."""
        return dict(self.operations).get(session)

    def __str__(self) -> str:
        return " ".join([*(f"{s}={op}" for s, op in self.operations), *(str(s) for s in self.steps)])

    def __repr__(self) -> str:
        # what Hypothesis prints for a falsifying example: valid Python to paste into @example(...)
        return f"Schedule.parse({str(self)!r})"


def _check_session(session: str, token: str) -> None:
    if len(session) != 1 or session not in SESSION_LETTERS:
        raise UsageError(f"expected a session letter A-Z but got {shown(session, 10)} in {shown(token, 40)}")


def _validate(schedule: Schedule) -> None:
    if not schedule.steps:
        raise UsageError(f"expected at least one session's steps, e.g. {EXAMPLE!r}, but the schedule is empty")
    if schedule.statement_level:
        _validate_statements(schedule)
        return
    for session in schedule.sessions:
        got = schedule.steps_of(session)
        if got not in (FULL, SHORT):
            raise UsageError(
                f"session {session} must run read, write[, commit] once each in that order but got {', '.join(got)}"
            )
    unused = sorted({s for s, _ in schedule.operations} - set(schedule.sessions))
    if unused:
        raise UsageError(f"an operation is given for session {unused[0]}, which has no steps in the schedule")


def _validate_statements(schedule: Schedule) -> None:
    """Statement steps: a number must be the statement's position in its session, and no session
    may have more than :data:`MAX_STATEMENTS`. Whether a label matches what the session sends is
    known only when it sends it (the run says so in one line)."""
    count: dict[str, int] = {}
    for step in schedule.steps:
        n = count[step.session] = count.get(step.session, 0) + 1
        if n > MAX_STATEMENTS:
            raise UsageError(
                f"session {step.session} has more than {MAX_STATEMENTS} statement steps (step {step}); "
                f"expected at most {MAX_STATEMENTS}"
            )
        if step.name.isdigit() and int(step.name) != n:
            raise UsageError(
                f"step {step} is session {step.session}'s statement {n} in this schedule; "
                f"expected {step.session}.{n} (positions count from 1, in order)"
            )
        if step.name in ("read", "write"):
            raise UsageError(
                f"step {step} is a phase, but this schedule names statements; expected a statement "
                f"like {step.session}.select:TABLE or {step.session}.{n}"
            )
    unused = sorted({s for s, _ in schedule.operations} - set(schedule.sessions))
    if unused:
        raise UsageError(f"an operation is given for session {unused[0]}, which has no steps in the schedule")


def interleave(sessions: Iterable[str], choices: Iterable[int], operations: dict[str, str] | None = None) -> Schedule:
    """Build a full schedule (read, write, commit per session) from a list of choices: each choice
    picks, among the sessions with steps left, the one that goes next (modulo their number).

    Every interleaving that keeps each session's own order is reachable, and choices of 0 give the
    serial order A, then B, ...: the shape Hypothesis shrinks toward.
    """
    remaining = {s: list(FULL) for s in sessions}
    picks = iter(choices)
    steps: list[Step] = []
    while any(remaining.values()):
        live = [s for s in sorted(remaining) if remaining[s]]
        session = live[next(picks, 0) % len(live)]
        steps.append(Step(session, remaining[session].pop(0)))
    return Schedule(tuple(steps), tuple(sorted((operations or {}).items())))
