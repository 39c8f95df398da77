"""How hard and how long a run pushes: counts, time, think time, seed, conflict policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from race_harness.defaults import ISOLATIONS, SCOPES, Isolation, Scope
from race_harness.errors import UsageError, non_negative_float, non_negative_int, positive_int

ConflictPolicy = Literal["fail", "retry"]
# bounds that keep a run finite: a session is a connection, and servers allow a few hundred
MAX_SESSIONS = 1024
MAX_OPS = 10_000_000
MAX_DURATION_S = 86_400
MAX_PAUSE_MS = 60_000.0


@dataclass(frozen=True)
class RunConfig:
    writers: int = 8
    readers: int = 2
    ops: int | None = None  # writer operations in all; None: the scenario's default, or 200
    duration: float | None = None  # seconds; when set, writers run until it elapses instead of ``ops``
    think_ms: float = 2.0  # upper bound of the random pause between read and write: widens the race window
    seed: int = 0
    on_conflict: ConflictPolicy = "fail"  # fail: surface it like HTTP 409; retry: re-read and re-apply
    max_attempts: int = 5  # with on_conflict=retry, attempts per operation before it fails
    backoff_ms: float = 1.0  # first retry pause; doubles per attempt, with jitter
    isolation: Isolation | None = None  # None: the database's default
    # separate: read and write in two transactions, as in the seed bugs; single: both in one
    scope: Scope = "separate"
    processes: bool = False  # writers as separate OS processes instead of threads of this one
    nemesis: tuple[str, ...] = ()  # faults injected during each cell, in turn (runner/nemesis.py)
    nemesis_interval: float = 1.0  # seconds between two faults
    # no operation started or ended for this long: the database stopped answering, the run ends (a
    # lock wait ends long before, after lock_timeout)
    stall_timeout: float = 120.0
    # a lock wait ends the operation (fail lock-timeout) after this long: PostgreSQL's lock_timeout,
    # MySQL/MariaDB's innodb_lock_wait_timeout (whole seconds)
    lock_timeout: float = 30.0

    def __post_init__(self) -> None:
        positive_int("writers", self.writers)
        non_negative_int("readers", self.readers)
        if self.writers + self.readers > MAX_SESSIONS:
            raise UsageError(
                f"expected at most {MAX_SESSIONS} sessions (writers + readers; each is a connection) but got "
                f"writers={self.writers}, readers={self.readers}"
            )
        if self.ops is not None:
            positive_int("ops", self.ops)
            if self.ops > MAX_OPS:
                raise UsageError(f"expected at most {MAX_OPS:,} operations but got ops={self.ops}")
        if self.duration is not None and not (
            isinstance(self.duration, (int, float)) and 0 < self.duration <= MAX_DURATION_S
        ):
            raise UsageError(
                f"expected a number of seconds above 0 and at most {MAX_DURATION_S} but got duration={self.duration!r}"
            )
        non_negative_float("think_ms", self.think_ms)
        non_negative_float("backoff_ms", self.backoff_ms)
        for name in ("think_ms", "backoff_ms"):
            if getattr(self, name) > MAX_PAUSE_MS:
                raise UsageError(f"expected at most {MAX_PAUSE_MS:g} ms but got {name}={getattr(self, name)!r}")
        positive_int("max_attempts", self.max_attempts)
        if not (isinstance(self.lock_timeout, (int, float)) and 1 <= self.lock_timeout <= 3600):
            raise UsageError(f"expected --lock-timeout between 1 and 3600 seconds but got {self.lock_timeout!r}")
        if not (isinstance(self.stall_timeout, (int, float)) and 1 <= self.stall_timeout <= MAX_DURATION_S):
            raise UsageError(
                f"expected --stall-timeout between 1 and {MAX_DURATION_S} seconds but got {self.stall_timeout!r}"
            )
        if self.isolation is not None and self.isolation not in ISOLATIONS:
            raise UsageError(f"expected isolation to be one of {', '.join(ISOLATIONS)} but got {self.isolation!r}")
        if self.scope not in SCOPES:
            raise UsageError(f"expected scope to be one of {', '.join(SCOPES)} but got {self.scope!r}")
        if self.on_conflict not in ("fail", "retry"):
            raise UsageError(f"expected on_conflict to be 'fail' or 'retry' but got {self.on_conflict!r}")
