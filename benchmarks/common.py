"""What every benchmark shares: CPU accounting, medians, the machine line, and printing."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from race_harness.databases import Backend, resolve_all
from race_harness.events import Operation


class BenchError(Exception):
    """A benchmark cannot run here (missing tool, server too small): one line for the user."""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def _machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat (Linux)."""
    with open("/proc/stat", encoding="utf-8") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class CpuShare:
    """CPU spent while a block ran: this process (all threads) and children, and the whole machine."""

    wall_s: float = 0.0
    harness_s: float = 0.0  # this process and the children it waited for
    machine_busy_s: float = 0.0  # every process on the machine, the database server included

    @property
    def harness_share(self) -> float:
        """The harness's part of all the CPU the machine spent (0..1)."""
        return self.harness_s / self.machine_busy_s if self.machine_busy_s else 0.0

    @property
    def machine_utilisation(self) -> float:
        cores = os.cpu_count() or 1
        return self.machine_busy_s / (self.wall_s * cores) if self.wall_s else 0.0


@contextmanager
def cpu_share() -> Iterator[CpuShare]:
    share = CpuShare()
    hz = os.sysconf("SC_CLK_TCK")
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, _ = _machine_busy_ticks()
    t0 = time.perf_counter()
    try:
        yield share
    finally:
        share.wall_s = time.perf_counter() - t0
        own1 = resource.getrusage(resource.RUSAGE_SELF)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        share.harness_s = (own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime) + (
            kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
        )
        share.machine_busy_s = (_machine_busy_ticks()[0] - busy0) / hz


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_throughput(ops: Sequence[Operation]) -> float:
    """Completed writes per second over the span from the first invoke to the last completion."""
    writes = [op for op in ops if op.is_write and op.end is not None]
    if not writes:
        return 0.0
    span = max(op.end for op in writes if op.end is not None) - min(op.start for op in writes)
    return len(writes) / (span / 1e9) if span > 0 else 0.0


def start_backend(spec: str) -> Backend:
    """One started backend for a ``--db`` value (postgres, mysql, a URL, embedded-postgres)."""
    backends = resolve_all([spec])
    if len(backends) != 1:
        raise BenchError(f"--db {spec} names {len(backends)} databases; expected exactly one")
    backend = backends[0]
    backend.start()
    return backend


def section(title: str, what: str) -> None:
    print(f"\n== {title}\n   {what}")


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "   "
            + "  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
