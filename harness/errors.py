"""Errors the harness raises on purpose.

Every message is one line that names the value it got and what it expected, so the CLI can print it
as is (exit 2) and a test can match on it. Messages never contain a password: anything that
formats a database URL goes through :func:`mask_url` first.

Light on purpose (no SQLAlchemy): the CLI imports it before it knows what work it has to do.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

# what every command's exit code means (README: "Exit codes"); one meaning each
EXIT_LOST = 1  # a strategy declared safe lost an update (p4: the plain read-modify-write disagrees)
EXIT_USAGE = 2  # bad input or an unusable database
EXIT_INCONCLUSIVE = 3  # a strategy declared safe proved nothing: no contention, a harness error, undecided
EXIT_CRASH = 4  # race-harness itself failed: a bug, never to be read as a verdict (Python's own would be 1)
EXIT_NOT_REPRODUCED = 5  # a loss the scenario declares (or replay --expect lost) did not happen: not a pass

# the userinfo of a URL: the password runs to the *last* "@" before the host, so one with an unescaped
# "@" or ":" (rhpw:ss:w@rd@host) is masked whole; a user name may hold an "@" (user@corp:pw@host)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/\s]*):(?P<pw>[^\s/?#]*)@")
# a password given as a query parameter (libpq's password and sslpassword, PyMySQL's passwd, ...)
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&;](?:password|passwd|pwd|pass|sslpassword)=)[^&#;\s'\"]*", re.I)


def mask_url(text: str) -> str:
    """Every password in ``text`` replaced by ``***``: a URL's ``user:password@`` (reserved characters
    and all) and a ``password=``-like query parameter."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}***", text)


class HarnessError(Exception):
    """Base class: a problem the user can fix (bad input, unreachable server, missing engine)."""


class UsageError(HarnessError):
    """A value given on the command line or to the API is not one the harness accepts."""


class UnknownNameError(UsageError):
    """A scenario, strategy or database name is not registered."""

    def __init__(self, kind: str, name: str, known: list[str], alternative: str = "") -> None:
        also = f", or {alternative}" if alternative else ""
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(known))}{also}")
        self.kind = kind
        self.name = name
        self.known = known


class DatabaseError(HarnessError):
    """A database could not be reached, created or dropped."""


class DatabaseUnreachableError(DatabaseError):
    """The server did not accept a connection."""


def crash(exc: BaseException) -> str:
    """An exception as a harness error reports it: its type, its message, and where it was raised
    (the innermost frame), so a session's crash is never mistaken for a quiet run."""
    origin = exc
    while origin.__cause__ is not None:  # raised from another (the application's own error): that one's place
        origin = origin.__cause__
    frames = traceback.extract_tb(origin.__traceback__)
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{at}"


def shown(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut to ``limit`` characters with the full length said: an error stays one line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise ``UsageError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"expected a positive integer but got {name}={value!r}")
    return value


def non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"expected an integer >= 0 but got {name}={value!r}")
    return value


def non_negative_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise UsageError(f"expected a number >= 0 but got {name}={value!r}")
    return float(value)
