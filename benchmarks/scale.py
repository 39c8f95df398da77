"""Scale: 8, 64 and 256 concurrent sessions read-modify-writing one hot row.

``counter`` x ``full-row`` in one transaction with no think time: every session queues on the same
row lock. Per session count: throughput, harness errors (a session that crashed, an event the
history could not pair; must be 0), and the harness's share of all CPU the machine spent during
the run (the rest is the database server and everything else). The reference is the 8-session run.
"""

from __future__ import annotations

from benchmarks.common import BenchError, cpu_share, section, start_backend, table, write_throughput
from race_harness.runner import RunConfig, run_stress
from race_harness.scenario import get_scenario
from race_harness.strategies import get_strategy

SESSIONS = (8, 64, 256)
RESERVED = 10  # admin and monitor connections besides the sessions


def _max_connections(backend: object) -> int | None:
    execute = getattr(backend, "admin_execute", None)
    if execute is None:
        return None
    family = getattr(backend, "family", "")
    sql = "SHOW max_connections" if family == "postgresql" else "SELECT @@max_connections"
    return int(execute(sql)[0][0])


def bench(dbs: list[str], quick: bool) -> None:
    seconds = 2.0 if quick else 5.0
    section("scale", f"counter x full-row, one transaction, one hot row, {seconds:.0f} s per run")
    rows = []
    for spec in dbs:
        backend = start_backend(spec)
        try:
            limit = _max_connections(backend)
            if limit is not None and limit < max(SESSIONS) + RESERVED:
                raise BenchError(
                    f"{backend.label} allows max_connections={limit}; the scale benchmark needs "
                    f"{max(SESSIONS) + RESERVED} (set max_connections = 300 and restart the server)"
                )
            base = None
            for sessions in SESSIONS:
                config = RunConfig(writers=sessions, readers=0, duration=seconds, think_ms=0, scope="single")
                with cpu_share() as cpu:
                    record = run_stress(get_scenario("counter"), get_strategy("full-row"), backend, config)
                ops = record.history.operations()
                info = sum(1 for op in ops if op.type == "info")
                rate = write_throughput(ops)
                base = base or rate
                rows.append(
                    (
                        backend.label,
                        sessions,
                        f"{rate:,.0f}",
                        f"{rate / base:.2f}x",
                        len(record.harness_errors),
                        info,
                        f"{cpu.harness_share:.0%}",
                        f"{cpu.machine_utilisation:.0%}",
                    )
                )
        finally:
            backend.close()
    table(
        rows,
        ["database", "sessions", "ops/s", "vs 8", "harness errors", "info ops", "harness CPU share", "machine busy"],
    )
    print("   target: 0 harness errors at 256 sessions")
