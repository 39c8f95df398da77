"""The schedule runner: one schedule, or hundreds, on one backend.

It makes the scratch database once and gives every run the scenario's tables holding exactly the
initial state; the steps themselves are released by the coordinator
(:mod:`race_harness.runner.coordinator`, isolationtester's way). A run of ``timestamp-occ:0``
(whole-second timestamps) is started at the top of a wall-clock second and set aside when it did
not fit in one: the race it shows needs both writes in the same second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from race_harness.databases.base import Backend, Isolation, ScratchDatabase
from race_harness.defaults import DEFAULT_STEP_TIMEOUT_S
from race_harness.entity import EntityTables
from race_harness.errors import UsageError, shown
from race_harness.history import History
from race_harness.model import State
from race_harness.runner.app_steps import configure_app, dispose_app_engines
from race_harness.runner.config import RunConfig
from race_harness.runner.coordinator import Coordinator
from race_harness.runner.stress import CellPlan, plan_cell
from race_harness.scenario import Scenario
from race_harness.schedule import Schedule, Step, session_index
from race_harness.statements import Statement
from race_harness.strategies.base import Strategy
from race_harness.strategies.registry import strategy_ref

if TYPE_CHECKING:
    from race_harness.checkers import CheckResult

# timestamp-occ:0 needs the whole schedule inside one wall-clock second: start in its first
# SECOND_START_BY, finish before SECOND_END_BY (PostgreSQL timestamp(0) rounds .5 up to the next second)
SECOND_START_BY = 0.3
SECOND_END_BY = 0.5
# a run that did not fit in its second proves nothing either way: run it again, at most this often
SECOND_ATTEMPTS = 3


@dataclass
class ScheduleResult:
    """One schedule run: the transcript, the history the checker judged, and how the steps went."""

    schedule: Schedule
    scenario: str
    strategy: str
    database: str
    db_spec: str
    plan: CellPlan
    transcript: list[str]
    order: list[Step]  # the order the steps were released in (blocked sessions' steps postponed)
    history: History
    initial: dict[int, State]
    final: dict[int, State]
    result: CheckResult
    lock_waits: int = 0  # steps seen waiting in the database's lock view (or on the in-process lock)
    assumed_waits: int = 0  # steps only assumed blocked after a timeout: no lock view, or not seen in it
    canceled: int = 0  # steps the coordinator had to cancel
    harness_errors: list[str] = field(default_factory=list)
    same_second: bool | None = None  # whole-second timestamps: did every write fall in one second?
    # what -s / -S take to find the scenario and strategy again (an import path for a project's own)
    scenario_ref: str | None = None
    strategy_ref: str | None = None
    executed: list[Step] = field(default_factory=list)  # statement-level: every step, by the label it sent
    statements: dict[str, list[Statement]] = field(default_factory=dict)  # statement-level: each session's

    @property
    def executed_schedule(self) -> Schedule:
        """Statement-level: the schedule as it ran, every statement named by its label, the ones run
        after the given steps included; replayed, it runs the same way every time."""
        if not self.executed:
            return self.schedule
        return Schedule(tuple(self.executed), self.schedule.operations)

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def lost(self) -> bool:
        return self.result.verdict == "lost-updates"

    @property
    def interleaved(self) -> bool:
        """Writes of different sessions overlapped in time: the race had a chance to happen."""
        return self.result.stats.overlapping_write_pairs > 0

    def replay_command(self, repeat: int | None = None) -> str:
        from race_harness.reproduce import replay_command

        return replay_command(
            self.scenario_ref or self.scenario,
            self.strategy_ref or self.strategy,
            self.db_spec,
            self.schedule,
            isolation=self.plan.isolation,
            scope=self.plan.scope,
            repeat=repeat,
        )

    def format(self) -> str:
        lines = [*self.transcript]
        r = self.result
        # a failing verdict with nothing counted lost (a broken invariant, a counter that moved too far) says why
        found = sorted({a.kind for a in r.failures}) if r.failures and not r.lost_writes else []
        extra = f"; {', '.join(found)}" if found else ""
        lines.append(f"verdict: {r.verdict} ({r.lost_writes} lost of {r.acknowledged} acknowledged{extra})")
        lines += [f"- {a.explanation}" for a in (r.failures or r.anomalies)[:3]]
        lines += [f"harness error: {e}" for e in self.harness_errors]
        return "\n".join(lines)


class ScheduleRunner:
    """Runs schedules on one backend, reusing one scratch database (created on enter, dropped on exit)
    so that hundreds of generated schedules cost rows, not databases."""

    def __init__(self, backend: Backend, config: RunConfig | None = None, step_timeout: float | None = None) -> None:
        self.backend = backend
        self.config = config or RunConfig()
        self.step_timeout = DEFAULT_STEP_TIMEOUT_S if step_timeout is None else step_timeout
        if not self.step_timeout > 0:
            raise UsageError(f"expected a positive number of seconds but got step_timeout={step_timeout!r}")
        self._scratch: ScratchDatabase | None = None
        self._open = False
        self._engines: dict[tuple[Isolation, bool], Engine] = {}
        self._monitors: dict[int, Connection] = {}
        self._tables: dict[str, EntityTables] = {}  # table name -> the tables holding it
        # statement-level: a step naming a statement the session does not send there is an error
        # (what a person wrote); the explorer turns it off, for a path that came out shorter
        self.strict_statements = True
        # seconds spent making the application's schema and configuring it: work no bound counts
        # (an exploration's --max-seconds bounds its interleavings, not the application's migrations)
        self.setup_seconds = 0.0

    def __enter__(self) -> ScheduleRunner:
        self._open = True  # the scratch database is made by the first run, which knows its scenario
        return self

    def _database(self, scenario: Scenario) -> ScratchDatabase:
        """The runner's scratch database, made on first use; for an application that connects itself,
        under its scenario's stable name (:attr:`Scenario.database_key`): configured once per process."""
        if not self._open:
            raise UsageError("ScheduleRunner is used outside its `with` block")
        if self._scratch is None:
            self._scratch = self.backend.scratch_for(scenario.database_key, scenario.tables(0).template())
            self.setup_seconds += self._scratch.setup_seconds
        return self._scratch

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._open = False
        for monitor in self._monitors.values():
            monitor.close()
        for engine in self._engines.values():
            engine.dispose()
        self._monitors.clear()
        self._engines.clear()
        dispose_app_engines()
        if self._scratch is not None:
            self._scratch.drop()
            self._scratch = None

    def _engine(self, isolation: Isolation, app: bool = False) -> Engine:
        """One engine per isolation level; application code gets the driver's own transactions."""
        if self._scratch is None:
            raise UsageError("ScheduleRunner is used outside its `with` block")
        if (isolation, app) not in self._engines:
            self._engines[isolation, app] = self._scratch.engine(16, isolation, driver_transactions=app)
        return self._engines[isolation, app]

    def monitor(self, engine: Engine, *, fresh: bool = False) -> Connection:
        """An autocommit connection for the lock view, one per engine; ``fresh`` replaces a broken one."""
        if fresh and id(engine) in self._monitors:
            with contextlib.suppress(Exception):
                self._monitors.pop(id(engine)).close()
        if id(engine) not in self._monitors:
            self._monitors[id(engine)] = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._monitors[id(engine)]

    def _fresh_tables(
        self, engine: Engine, scenario: Scenario, precision: int
    ) -> tuple[EntityTables, dict[int, State]]:
        """The scenario's tables holding exactly the initial state (created, or emptied and reseeded),
        and that state. Tables of another shape under the same names are dropped first."""
        tables = scenario.tables(precision)
        names = set(tables.metadata.tables)
        known = {id(k): k for name, k in self._tables.items() if name in names}
        with engine.begin() as conn:
            if len(known) == 1 and _same_shape(next(iter(known.values())), tables):
                self._tables.update(dict.fromkeys(names, tables))
                # the scenario's own seed (another's may differ), on what the schema's set-up left
                return tables, tables.reload(conn, self._reset(tables))
            started = time.monotonic()
            for old in known.values():
                old.metadata.drop_all(conn)
                for name in old.metadata.tables:
                    self._tables.pop(name, None)
            # the first tables of a database copied from their template are there already
            made = not self._tables and self._scratch is not None and self._scratch.schema_made
            initial = tables.create(conn, self._remember(tables), made=made)
            self.setup_seconds += time.monotonic() - started
        self._tables.update(dict.fromkeys(names, tables))
        return tables, initial

    def _pristine_key(self, tables: EntityTables) -> str | None:
        """Under what the backend keeps what the application's schema set-up left in the database
        (rows a data migration wrote, counters), which each repetition starts from; None for the
        harness's own tables, which start empty."""
        if tables.entity.create is None or self._scratch is None:
            return None
        return self._scratch.template or f"database {self._scratch.name}"

    def _remember(self, tables: EntityTables) -> Callable[[], object] | None:
        key, scratch = self._pristine_key(tables), self._scratch
        if key is None or scratch is None:
            return None
        return lambda: self.backend.remember(key, scratch.name)

    def _reset(self, tables: EntityTables) -> Callable[[], bool] | None:
        key, scratch = self._pristine_key(tables), self._scratch
        if key is None or scratch is None:
            return None
        return lambda: self.backend.reset_copy(key, scratch.name)

    def run(
        self, schedule: Schedule | str, scenario: Scenario, strategy: Strategy, *, finish_order: list[str] | None = None
    ) -> ScheduleResult:
        """Run the schedule once. With whole-second timestamps a run whose steps did not fit in one
        wall-clock second (a loaded machine) is run again, up to :data:`SECOND_ATTEMPTS` times; a
        result with ``same_second`` False is one that never fitted, to be set aside, not counted."""
        out = self._run_once(schedule, scenario, strategy, finish_order)
        for attempt in range(2, SECOND_ATTEMPTS + 1):
            if out.same_second is not False:
                break
            out = self._run_once(schedule, scenario, strategy, finish_order)
            out.transcript.append(f"note: attempt {attempt}: the earlier ones did not fit in one second")
        return out

    def _run_once(
        self, schedule: Schedule | str, scenario: Scenario, strategy: Strategy, finish_order: list[str] | None
    ) -> ScheduleResult:
        if isinstance(schedule, str):
            schedule = Schedule.parse(schedule)
        if schedule.statement_level and not scenario.is_app:
            raise UsageError(
                f"schedule {shown(str(schedule))} names statements, but scenario {scenario.name!r} runs a strategy's "
                "read, write and commit phases; statement steps need an application's own functions (operation(...))"
            )
        for s in schedule.sessions:  # unknown operation names fail before anything runs
            scenario.schedule_write(session_index(s), schedule.operation(s), len(schedule.sessions))
        plan = plan_cell(strategy, self.backend, self.config)
        if isinstance(plan, str):
            raise UsageError(f"cannot run {scenario.name} x {strategy.spec} on {self.backend.label}: {plan}")
        self._database(scenario)
        engine = self._engine(plan.isolation, scenario.is_app)
        whole_seconds = strategy.timestamp_precision == 0
        with _one_second(whole_seconds) as window:
            tables, initial = self._fresh_tables(engine, scenario, strategy.timestamp_precision)
            if (
                scenario.configure is not None
                and self._scratch is not None
                and not scenario.configured_for(self._scratch.url)
            ):
                # again only if the application was pointed elsewhere since (another scenario's hook,
                # another runner's database); the engines it used are closed first
                dispose_app_engines()
                started = time.monotonic()
                configure_app(scenario, self._scratch.url)
                self.setup_seconds += time.monotonic() - started
            run = Coordinator(self, schedule, scenario, strategy, plan, engine, tables, finish_order)
            run.execute()
            if run.fatal:
                raise run.fatal[0]
        with engine.connect() as conn, conn.begin():
            final = tables.states(conn, scenario.entities)
        from race_harness.checkers import CHECKERS, check  # NumPy: a replay loads it while it waits for its database

        result = check(
            run.history,
            initial,
            final,
            token=strategy.token,
            invariants=scenario.invariants,
            checkers=(*CHECKERS, *scenario.checkers),
        )
        if run.errors:
            result.checker_errors.extend(f"runner: {e}" for e in run.errors)
            if result.verdict == "no-lost-updates":
                result.verdict = "inconclusive"
        out = ScheduleResult(
            schedule,
            scenario.name,
            strategy.spec,
            self.backend.label,
            self.backend.spec,
            plan,
            run.transcript,
            run.order,
            run.history,
            initial,
            final,
            result,
            run.lock_waits,
            run.assumed_waits,
            run.canceled,
            run.errors,
            window() if whole_seconds else None,
            scenario.ref,
            strategy_ref(strategy),
            run.executed,
            run.statements(),
        )
        if out.same_second is False:
            out.transcript.append("note: the steps did not fit in one whole second; whole-second timestamps may differ")
        return out


@contextmanager
def _one_second(align: bool) -> Iterator[Callable[[], bool]]:
    """With whole-second timestamps, start early in a wall-clock second so that loading the initial
    state and every step fall in that second (the Glance fix's flaw needs two writes in one second);
    yields a check of whether they did."""
    if align:
        frac = time.time() % 1
        if frac >= SECOND_START_BY:
            time.sleep(1 - frac + 0.001)
    started = time.time()
    ended: list[float] = []
    yield lambda: int(ended[0]) == int(started) and ended[0] % 1 < SECOND_END_BY
    ended.append(time.time())


def _same_shape(a: EntityTables, b: EntityTables) -> bool:
    """Whether ``a``'s tables in the database can hold ``b``'s rows: the same tables and columns."""
    return a.metadata is b.metadata or _ddl(a) == _ddl(b)


def _ddl(tables: EntityTables) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(t.name, [(c.name, repr(c.type)) for c in t.columns]) for t in tables.metadata.sorted_tables]


# --- transcript wording -------------------------------------------------------------------------
__all__ = ["DEFAULT_STEP_TIMEOUT_S", "ScheduleResult", "ScheduleRunner"]
