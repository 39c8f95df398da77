"""Who created a scratch database, and whether that creator is provably gone.

A scratch database's name carries its creator: ``race_harness_<pid>_<start>_<host>_<random>``, with
the process id, the process's start and a hash of the host name. A creator is provably gone when it
ran on this host and no process with that id and that start exists (a process id can be reused;
with its start it cannot). Only such leftovers are ever dropped: a database made on another host,
by a live process, or named by an older race-harness (no start, no host) is left alone, however old
it is.

The start is the kernel's own record of it, in clock ticks since boot (``/proc/<pid>/stat``), base
36 behind an ``m``: it never changes while the process lives. A wall-clock start time does: Linux
derives it from the boot time, which moves whenever NTP adjusts the clock, so another process could
read a live creator's start a second off and take it for gone (a live run's scratch database or
container removed under it). Names from earlier versions carry wall-clock seconds; they are
compared within a few seconds. Where there is no ``/proc``, the wall clock is all there is.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache

PREFIX = "race_harness_"

__all__ = ["Creator", "creator_of", "creator_of_tag", "own_tag", "scratch_name"]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


@cache
def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


MONOTONIC = "m"  # marks a start in clock ticks since boot (see the module docstring)
CLOCK_SLACK_S = 2  # how far a wall-clock start may move with the clock and still name the same process


def _started(pid: int) -> str | None:
    """The start of process ``pid`` as it appears in names; None when there is no such process (or
    only its zombie), ``?`` when it exists but cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()  # after the command name, which may hold anything
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else _wall_clock_start(pid)
    except PermissionError:
        return "?"
    if fields[0] == b"Z":
        return None
    return MONOTONIC + _base36(int(fields[19]))  # field 22, starttime; fields[0] is field 3


def _wall_clock_start(pid: int) -> str | None:
    import psutil  # only for names of earlier versions, or without /proc: not on every command's start

    try:
        return _base36(int(psutil.Process(pid).create_time()))
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # it exists, owned by someone else: alive as far as we can tell
        return "?"


def _runs(pid: int, started: str) -> bool:
    """Whether the process ``pid`` that started at ``started`` (as a name records it) still runs."""
    if started.startswith(MONOTONIC):
        now = _started(pid)
        return now == "?" or now == started
    now = _wall_clock_start(pid)  # an earlier version's name, or no /proc
    if now is None or now == "?":
        return now == "?"
    try:
        return abs(int(now, 36) - int(started, 36)) <= CLOCK_SLACK_S
    except ValueError:  # not a start this module wrote: nothing proves its creator gone
        return True


def scratch_name(key: str | None = None) -> str:
    """A fresh name, or with ``key`` the same name every time this process asks (one database at a
    time by that name: an application configured once stays pointed at it)."""
    if key is not None:
        return f"{own_prefix()}k{hashlib.sha1(key.encode()).hexdigest()[:7]}"
    return f"{own_prefix()}{uuid.uuid4().hex[:8]}"


def own_prefix() -> str:
    """What begins the name of every scratch database this process creates, and no other's."""
    return f"{PREFIX}{own_tag()}_"


def own_tag() -> str:
    """This process as a creator: ``<pid>_<start>_<host>``, also the label on its containers."""
    pid = os.getpid()
    return f"{pid}_{_started(pid)}_{_host()}"


@dataclass(frozen=True)
class Creator:
    pid: int
    started: str
    host: str

    @property
    def here(self) -> bool:
        return self.host == _host()

    @property
    def gone(self) -> bool:
        """On this host, and no process with this id and start time runs: nobody will drop it."""
        return self.here and not _runs(self.pid, self.started)

    def describe(self) -> str:
        if not self.here:
            return f"made on another host (pid {self.pid})"
        return f"its creator, pid {self.pid}, has ended" if self.gone else f"its creator, pid {self.pid}, still runs"


def creator_of(name: str) -> Creator | None:
    """The creator a scratch name records; None for a name in the older form (no start time, no host)."""
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX) :].split("_")
    if len(parts) != 4:
        return None
    return creator_of_tag("_".join(parts[:3]))


def creator_of_tag(tag: str) -> Creator | None:
    """The creator an :func:`own_tag` names; None for anything else."""
    parts = tag.split("_")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return Creator(int(parts[0]), parts[1], parts[2])
