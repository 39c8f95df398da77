"""What a scenario is: an entity, its initial state, the writes users make, and the verdict a correct
harness must reach for each strategy. Declared as data plus one function, like an isolationtester spec.

Scenario modules live in the ``scenarios`` package, one per module, each exposing ``SCENARIO``.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from race_harness.errors import UnknownNameError, UsageError
from race_harness.model import EntitySchema, FieldType, Intent, State, Value
from race_harness.strategies.base import Strategy

Expectation = Literal["lost", "none"]


@dataclass(frozen=True)
class WriteOp:
    f: str  # the application operation's name, as the history records it
    entity: int
    intent: Intent


@dataclass(frozen=True)
class WriterContext:
    session: int
    seq: int  # this session's operation counter
    writers: int
    rng: random.Random
    params: Mapping[str, float]

    def unique(self, kind: FieldType = "text") -> Value:
        """A value no other write in the run produces, so a stored value names its writer."""
        if kind == "int":
            return (self.session + 1) * 1_000_000 + self.seq
        return f"s{self.session}.{self.seq}"


Operation = Callable[[WriterContext], WriteOp]


@dataclass(frozen=True)
class NamedSchedule:
    """A minimal schedule that reproduces the scenario's bug every time, and the strategy it defeats."""

    text: str
    strategy: str
    summary: str


class Pacer(Protocol):
    def before_write(self) -> None: ...


@dataclass
class SecondBursts:
    """Write only in the first ``window`` of each wall-clock second, at most ``per_second`` writes per
    session per second: every write of a burst falls inside one whole second, and a PostgreSQL
    ``timestamp(0)``, which rounds, never rounds a burst's timestamps up into the next second."""

    per_second: int = 3
    window: float = 0.5
    _second: int = -1
    _count: int = 0

    def before_write(self) -> None:
        while True:
            now = time.time()
            second, frac = int(now), now % 1
            if second != self._second:
                self._second, self._count = second, 0
            if frac < self.window and self._count < self.per_second:
                self._count += 1
                return
            time.sleep(1 - frac + 0.001)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    schema: EntitySchema
    initial: Mapping[int, State]
    next_write: Callable[[WriterContext], WriteOp]
    expected: Mapping[str, Expectation]  # strategy spec -> the verdict a correct harness reaches
    # specs this scenario is meant for; others are reported as n/a, not run
    applicable: frozenset[str] | None = None
    pacer: Callable[[], Pacer] | None = None
    default_ops: int | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    # what one session of a schedule can do, by name (``B=update_all``); the first is the default
    operations: Mapping[str, Operation] = field(default_factory=dict)
    schedules: Mapping[str, NamedSchedule] = field(default_factory=dict)

    def expectation(self, strategy: Strategy, processes: bool = False) -> Expectation | Literal["n/a"] | None:
        """``lost``/``none`` as declared, ``n/a`` when not applicable, None when nothing is declared.

        A strategy that is only safe within one process (``process-lock``) is expected to lose
        updates when the writers are separate processes.
        """
        if processes and strategy.one_process_only and self.expectation(strategy) == "none":
            return "lost"
        for key in (strategy.spec, strategy.name):
            if key in self.expected:
                return self.expected[key]
        if self.applicable is not None and not ({strategy.spec, strategy.name} & self.applicable):
            return "n/a"
        return "none" if strategy.claims_safe else None

    def with_params(self, values: Mapping[str, float]) -> Scenario:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise UsageError(f"scenario {self.name!r} has no parameter {unknown[0]!r}; expected one of: {known}")
        return replace(self, params={**self.params, **values})

    @property
    def entities(self) -> list[int]:
        return sorted(self.initial)

    @property
    def schedule_operations(self) -> Mapping[str, Operation]:
        return self.operations or {"write": self.next_write}

    def schedule_write(self, session: int, operation: str | None, sessions: int) -> WriteOp:
        """The write session number ``session`` of a schedule performs: its values are unique to it."""
        ops = self.schedule_operations
        name = operation or next(iter(ops))
        if name not in ops:
            raise UnknownNameError(f"operation of scenario {self.name}", name, list(ops))
        return ops[name](WriterContext(session, 0, sessions, random.Random(session), self.params))

    def named_schedule(self, name: str) -> NamedSchedule:
        if name not in self.schedules:
            raise UnknownNameError(f"schedule of scenario {self.name}", name, list(self.schedules))
        return self.schedules[name]


def scenario_names() -> list[str]:
    from race_harness import scenarios

    return sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if not m.name.startswith("_"))


def get_scenario(name: str) -> Scenario:
    names = scenario_names()
    if name not in names:
        raise UnknownNameError("scenario", name, names)
    module = importlib.import_module(f"race_harness.scenarios.{name}")
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise UsageError(
            f"scenario module race_harness.scenarios.{name} defines no SCENARIO of type race_harness.Scenario"
        )
    return scenario
