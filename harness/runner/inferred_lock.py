"""A single-writer database's write lock (SQLite's), which no lock view shows: who holds it and who
waits for it, inferred from what each session of a schedule has sent.

The harness is the lock view here. A session holds the lock from the moment a statement that takes
it has returned (while it waited in SQLite's busy handler it held nothing) until its transaction
ends; a step waits for it when what it sends takes the lock, by the backend's journal semantics
(:attr:`~race_harness.databases.base.Backend.reads_wait_for_writer` and friends), while another
session holds it. The sessions answer both questions themselves (their steps know what they sent);
this module puts the answers together, as a server's lock view would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class LockSession(Protocol):
    """What the inference reads of a schedule's session."""

    index: int  # its place in the schedule: A is 0

    @property
    def holds_write_lock(self) -> bool: ...

    @property
    def may_wait_for_write_lock(self) -> bool: ...


def harness_id(session: LockSession) -> int:
    """How a session is named among lock holders when the harness is the lock view: a negative
    number, never a server's connection id."""
    return -session.index - 1


def inferred_holders(session: LockSession, sessions: Iterable[LockSession]) -> set[int]:
    """The sessions (:func:`harness_id`) holding the write lock ``session``'s step waits for; empty
    when it sends nothing that takes the lock, or no other session holds it."""
    if not session.may_wait_for_write_lock:
        return set()
    return {harness_id(s) for s in sessions if s is not session and s.holds_write_lock}
