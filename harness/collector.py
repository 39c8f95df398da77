"""The cyclic garbage collector is paused while a command loads what it needs, and runs for its work.

Importing SQLAlchemy, psycopg, NumPy and the harness makes some 70,000 objects that live as long
as the process. The collector traverses them again each time enough new ones have piled up: about
40 ms of a one-schedule replay's half second, against 15 ms for importing SQLAlchemy and psycopg
alone. Imports leave next to no cyclic garbage, so a command pauses the collector until its
databases are reached, then moves everything made so far out of the collector's sight
(:func:`gc.freeze`, the use its documentation gives) and resumes it: the run itself is collected
as usual, and its full collections no longer walk the modules.

Only a process started as the command does this (``main()`` reading ``sys.argv``): a program that
calls ``main([...])`` keeps its collector as it was, garbage it has not collected yet included.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]

_paused = [False]


def pause() -> None:
    """Stop automatic collection, unless something else (a caller's own ``gc.disable()``) did."""
    if gc.isenabled():
        gc.disable()
        _paused[0] = True


def resume() -> None:
    """Set aside what exists now and collect automatically again; a no-op unless :func:`pause` paused."""
    if _paused[0]:
        _paused[0] = False
        gc.freeze()
        gc.enable()
