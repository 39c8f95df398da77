"""A schedule: the exact order in which sessions' steps run, as text a person can read and paste.

As in PostgreSQL's isolationtester, a schedule is one line of step names::

    A.read B.read A.write A.commit B.write B.commit

Sessions are capital letters. Each session performs one write operation in the steps ``read``,
``write`` and ``commit`` (see :mod:`race_harness.runner.steps`), in that order; a session that leaves out
``commit`` commits at the end of its ``write``, so ``A.read B.read A.write B.write`` is the shortest
form of the classic lost update. ``B=update_all`` picks the operation session B performs from the
scenario's named operations (the first one when not given).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

from race_harness.errors import UsageError, shown

SESSION_LETTERS = string.ascii_uppercase
STEPS = ("read", "write", "commit")
FULL = list(STEPS)
SHORT = ["read", "write"]  # the write commits
EXAMPLE = "A.read B.read A.write B.write"


@dataclass(frozen=True)
class Step:
    session: str
    name: str

    def __str__(self) -> str:
        return f"{self.session}.{self.name}"


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
            if not dot or name not in STEPS:
                raise UsageError(
                    f"expected steps like A.read, A.write, A.commit (or B=OPERATION) but got {shown(token, 40)} in "
                    f"schedule {shown(text.strip())}"
                )
            _check_session(session, token)
            steps.append(Step(session, name))
        return cls(tuple(steps), tuple(sorted(operations.items())))

    @property
    def sessions(self) -> list[str]:
        return sorted({s.session for s in self.steps})

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
    for session in schedule.sessions:
        got = schedule.steps_of(session)
        if got not in (FULL, SHORT):
            raise UsageError(
                f"session {session} must run read, write[, commit] once each in that order but got {', '.join(got)}"
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
