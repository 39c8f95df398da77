"""The commands that reproduce a finding, as a person types them in their project's directory.

A stress run is reproduced by its full configuration and seed (``race-harness run ...``). Its lost
update is then reproduced exactly by the schedule the losing pair implies: the write whose change was
lost (A) and the write that overwrote it from a read taken before A committed (B), as
``A.read B.read A.write B.write`` with each session doing the scenario operation that matches its
write (``race-harness replay ...``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from race_harness.checkers import CheckResult
from race_harness.events import Operation
from race_harness.matrix import CellResult
from race_harness.model import Intent
from race_harness.runner.config import RunConfig
from race_harness.scenario import Scenario
from race_harness.schedule import Schedule, session_index
from race_harness.strategies.base import Strategy
from race_harness.strategies.registry import strategy_ref

__all__ = ["commands_for", "implied_schedule", "replay_command", "run_command"]

PAIR_KINDS = ("lost-update", "same-read-overwrite")


def run_command(scenario: Scenario, strategy: Strategy, db_spec: str, config: RunConfig) -> str:
    """``race-harness run`` with every setting of the run, the seed included."""
    args = ["race-harness", "run", "-s", scenario.ref, "-S", strategy_ref(strategy), "--db", db_spec]
    args += ["--writers", str(config.writers), "--readers", str(config.readers)]
    if config.duration is not None:
        args += ["--duration", f"{config.duration:g}"]
    else:
        args += ["--ops", str(config.ops or scenario.default_ops or 200)]
    args += ["--think-ms", f"{config.think_ms:g}", "--seed", str(config.seed), "--scope", config.scope]
    if config.isolation:
        args += ["--isolation", config.isolation]
    if config.on_conflict != "fail":
        args += ["--on-conflict", config.on_conflict, "--max-attempts", str(config.max_attempts)]
    if config.processes:
        args.append("--processes")
    for name, value in sorted(scenario.params.items()):
        args += ["--param", f"{name}={value:g}"]
    return shlex.join(args)


def replay_command(
    scenario_ref: str,
    strategy_ref: str,
    db_spec: str,
    schedule: Schedule | str,
    *,
    isolation: str | None = None,
    scope: str = "separate",
    repeat: int | None = None,
) -> str:
    args = ["race-harness", "replay", "-s", scenario_ref, "-S", strategy_ref, "--db", db_spec]
    if scope == "single":
        args += ["--scope", "single"]
    if isolation:
        args += ["--isolation", isolation]
    args += ["--schedule", str(schedule)]
    if repeat:
        args += ["--repeat", str(repeat)]
    return shlex.join(args)


def _operation_name(scenario: Scenario, op: Operation) -> str:
    """The scenario operation whose writes look like ``op``'s: same application operation, same kind
    of change (increments, deletions, replacing the child rows); else the default operation."""
    ops = scenario.schedule_operations
    if op.intent is None:
        return next(iter(ops))

    wanted = _shape(op.name, op.intent)
    for name in ops:
        w = scenario.schedule_write(session_index("A"), name, 2)
        if _shape(w.name, w.intent) == wanted:
            return name
    return next(iter(ops))


def _shape(f: str, intent: Intent) -> tuple[object, ...]:
    return (f, tuple(sorted(intent.increments)), bool(intent.removes), intent.replace_children, bool(intent.sets))


def implied_schedule(scenario: Scenario, result: CheckResult, ops: Sequence[Operation]) -> Schedule | None:
    """The two-session schedule the first losing pair of ``result`` implies (for a lost increment:
    two sessions incrementing from one read), or None without one."""
    by_id = {op.id: op for op in ops}
    for anomaly in result.anomalies:
        if anomaly.kind not in PAIR_KINDS or not anomaly.ops:
            continue
        lost = by_id.get(anomaly.ops[0])
        if lost is None:
            continue
        overwriter = by_id.get(anomaly.ops[1]) if len(anomaly.ops) > 1 else _last_writer(lost, anomaly.field, ops)
        if overwriter is None:
            continue
        default = next(iter(scenario.schedule_operations))
        named = {
            letter: name
            for letter, name in (("A", _operation_name(scenario, lost)), ("B", _operation_name(scenario, overwriter)))
            if name != default
        }
        prefix = " ".join(f"{letter}={name}" for letter, name in named.items())
        return Schedule.parse(f"{prefix} A.read B.read A.write B.write".strip())
    for anomaly in result.anomalies:
        # A lost increment names no pair (a counter's values carry no writer), but every lost
        # increment needs two writers that read the count before either wrote it back: the same
        # schedule, each session doing the increment that lost.
        if anomaly.kind == "counter-lost":
            writes = [op for op in ops if op.is_write and op.intent is not None and op.intent.increments]
            if writes:
                name = _operation_name(scenario, writes[0])
                prefix = "" if name == next(iter(scenario.schedule_operations)) else f"A={name} B={name} "
                return Schedule.parse(f"{prefix}A.read B.read A.write B.write")
    return None


def _last_writer(lost: Operation, fld: str | None, ops: Sequence[Operation]) -> Operation | None:
    """Who overwrote ``lost``'s field when the history cannot say (an application function reports
    what it was asked to store, not what it wrote back): the last acknowledged write to the entity
    that did not mean to set the field. Its save, the last, wrote back what it had read."""
    later = [
        op
        for op in ops
        if op.is_write
        and op.type == "ok"
        and op.entity == lost.entity
        and op.end is not None
        and lost.end is not None
        and op.end > lost.end
        and op.intent is not None
        and fld not in op.intent.sets
    ]
    return max(later, key=lambda op: op.end or 0, default=None)


def commands_for(
    scenario: Scenario, strategy: Strategy, db_spec: str, config: RunConfig, cell: CellResult
) -> tuple[str, str | None]:
    """A stress cell that lost an update: the command that runs it again, and the replay of the
    schedule its losing pair implies (None when its evidence implies no schedule)."""
    again = run_command(scenario, strategy, db_spec, config)
    if cell.result is None or cell.history is None:
        return again, None
    pair = implied_schedule(scenario, cell.result, cell.history.operations())
    if pair is None:
        return again, None
    isolation = cell.plan.isolation if cell.plan else config.isolation
    scope = cell.plan.scope if cell.plan else config.scope
    return again, replay_command(
        scenario.ref, strategy_ref(strategy), db_spec, pair, isolation=isolation, scope=scope, repeat=20
    )
