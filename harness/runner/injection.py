"""Injection points: named moments of a cell where a test can hold the harness and do a real fault.

As PostgreSQL's own injection points do for its tests, this lets a fault land at a moment that a
timer would hit only by chance: while the cell's tables are made (``create``), before its seed
(``seed``), with every session connected and waiting at the start (``start``), with the final
read's connection open (``final``), and before the scratch database is dropped (``drop``). The
fault itself is real (a session terminated, a server paused or restarted); the point only waits.

Off unless ``RACE_HARNESS_INJECTION_DIR`` names a folder. A point holds when ``<name>.hold`` is in
it: the harness writes ``<name>.reached`` (the scratch database's name in it) and waits until the
hold file is removed, at most ``HOLD_S``. Each hold is taken once: the test removes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

from race_harness.report.files import write_atomic

ENV = "RACE_HARNESS_INJECTION_DIR"
HOLD_S = 120.0
POLL_S = 0.01
Point = Literal["create", "seed", "start", "final", "drop"]


def injection_point(name: Point, database: str) -> None:
    folder = os.environ.get(ENV)
    if not folder:
        return
    hold = Path(folder) / f"{name}.hold"
    if not hold.exists():
        return
    # written whole, then renamed: a test that sees the file reads the name, never an empty file
    write_atomic(Path(folder) / f"{name}.reached", database)
    deadline = time.monotonic() + HOLD_S
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(POLL_S)


__all__ = ["ENV", "Point", "injection_point"]
