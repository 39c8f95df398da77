"""The nemesis, as in Jepsen: faults injected into a running cell, each recorded in its history.

A thread beside the sessions does one fault every ``interval`` seconds, in the order given, until
the writers are done, and finishes the one under way before the run reads the final state:

- ``kill-connections``: ends every session on the cell's scratch database (never another one);
  PostgreSQL ``pg_terminate_backend``, MySQL/MariaDB ``KILL CONNECTION``;
- ``pause``: SIGSTOP to the server's processes for half the interval, then SIGCONT (a frozen VM);
- ``restart``: an immediate shutdown (a crash) and a start on the same socket;
- ``partition``: every connection cut and none accepted for half the interval, ``hang``: no byte
  passed either way for half the interval while every connection stays open, ``latency``: 20 ms
  added to every chunk each way for half the interval, all in the harness's own TCP proxy
  between the sessions and the server (:mod:`race_harness.runner.proxy`).

``pause`` and ``restart`` need a server the harness started itself (the embedded PostgreSQL, a
container: the engine's pause and restart);
``partition``, ``hang`` and ``latency`` a server reached over TCP.
Sessions survive: a write whose connection died ends ``fail`` when it certainly did not apply, or
``info`` when its COMMIT may have, and the session reconnects (waiting out a restart).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from race_harness.databases.base import Backend
from race_harness.errors import UsageError
from race_harness.history import History
from race_harness.runner.proxy import Proxy

FAULTS = ("kill-connections", "pause", "restart", "partition", "hang", "latency")
LATENCY_S = 0.02  # what latency adds to every chunk of bytes, each way


def check_faults(faults: Sequence[str], interval: float, backends: Sequence[Backend]) -> None:
    """Every fault named is one race-harness knows and each database can take: else one line, before any work."""
    for fault in faults:
        if fault not in FAULTS:
            raise UsageError(f"unknown fault {fault!r} for --nemesis; expected one of {', '.join(FAULTS)}")
    if faults and not (0.05 <= interval <= 3600):
        raise UsageError(f"expected --nemesis-interval between 0.05 and 3600 seconds but got {interval!r}")
    for backend in backends:
        for fault in faults:
            problem = backend.fault_problem(fault)
            if problem:
                raise UsageError(f"--nemesis {fault}: {problem}")


class Nemesis:
    """Runs the faults of one cell on a thread of its own; :meth:`stop` waits for the one under way."""

    def __init__(
        self,
        faults: Sequence[str],
        interval: float,
        backend: Backend,
        database: str,
        history: History,
        proxy: Proxy | None = None,
    ) -> None:
        self.faults, self.interval, self.backend, self.database = list(faults), interval, backend, database
        self.history, self.proxy = history, proxy
        self.errors: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)

    def start(self) -> None:
        if self.faults:
            self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        n = 0
        while not self._done.wait(self.interval):
            fault = self.faults[n % len(self.faults)]
            n += 1
            started = self.history.now()
            try:
                detail = self._do(fault)
            except Exception as exc:  # a fault that could not be done is said, never a crash of the run
                detail = f"failed: {type(exc).__name__}: {exc}"
                self.errors.append(f"nemesis {fault}: {detail}")
            self.history.fault(fault, started, self.history.now(), detail)

    def _do(self, fault: str) -> str:
        seconds = min(self.interval / 2, 2.0)  # how long a pause, a partition, a hang or added latency lasts
        if fault == "kill-connections":
            return f"{self.backend.kill_sessions(self.database)} sessions ended"
        if fault == "pause":
            self.backend.pause(seconds)
            return f"server stopped for {seconds:g} s"
        if fault == "restart":
            self.backend.restart()
            return "server crashed and restarted"
        assert self.proxy is not None, "a network fault without the proxy"
        if fault == "partition":
            cut = self.proxy.partition(seconds)
            return f"{cut} connections cut, none accepted for {seconds:g} s"
        if fault == "hang":
            self.proxy.hang(seconds)
            return f"no byte passed either way for {seconds:g} s, connections kept open"
        self.proxy.latency(seconds, LATENCY_S)
        return f"{LATENCY_S * 1000:g} ms added each way for {seconds:g} s"
