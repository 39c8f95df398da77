"""What a scenario is: an entity, its initial state, the writes users make, and the verdict a correct
harness must reach for each strategy. Declared as data plus one function, like an isolationtester spec.

Bundled scenario modules live in ``race_harness.scenarios``, one per module, each exposing
``SCENARIO``. A project's own scenarios are found by entry point (the group
``race_harness.scenarios``, ``name = "package.module:SCENARIO"``) or by import path
(``-s myapp.races:DOCUMENTS``, ``-s tests/races.py:DOCUMENTS``), and every command the harness prints
names a scenario the way it can be found again (:attr:`Scenario.ref`).
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import TYPE_CHECKING, Literal, Protocol

from race_harness.app_setup import Configure, configured, forget_configuration, last_configured, run_setup
from race_harness.defaults import Bug, Expectation
from race_harness.errors import UnknownNameError, UsageError
from race_harness.model import EntitySchema, State
from race_harness.operations import AppOperation, WriteMaker, WriteOp, WriterContext
from race_harness.refs import is_import_path, load_ref
from race_harness.strategies.base import Strategy

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from sqlalchemy.engine import URL

    from race_harness.checkers import Checker
    from race_harness.checkers.invariants import Predicate
    from race_harness.entity import Entity, EntityTables


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
    """An application's scenario declares ``entity`` (its own tables, seeded by its own code) and
    operations that call its own functions (:func:`race_harness.operation`), run by the ``app``
    strategy. A bundled scenario declares ``schema`` and ``initial``, shorthand for an Entity over
    tables the harness declares (:func:`race_harness.schema.build_tables`; ``updated_at``'s precision
    is the strategy's, so there is one per precision), which the bundled strategies write to.
    ``configure(url)``: for an application that connects itself (operations with ``uses="app"``),
    what points it at the scratch database; called before the sessions start, in every process.
    ``next_write`` picks each stress write; by default the ``operations`` take turns."""

    name: str
    summary: str = ""
    schema: EntitySchema | None = None
    initial: Mapping[int, State] = field(default_factory=dict)
    next_write: Callable[[WriterContext], WriteOp] | None = None
    # strategy spec -> the verdict a correct harness reaches (an app scenario: {"app": "lost"})
    expected: Mapping[str, Expectation] = field(default_factory=dict)
    # the kind of bug it is: what each strategy declares it does against that kind is what the
    # scenario expects of it, unless ``expected`` says otherwise for that strategy
    bug: Bug | None = None
    # specs this scenario is meant for; others are reported as n/a, not run
    applicable: frozenset[str] | None = None
    pacer: Callable[[], Pacer] | None = None
    default_ops: int | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    # what one session of a schedule can do, by name (``B=update_all``); the first is the default
    operations: Mapping[str, WriteMaker] = field(default_factory=dict)
    schedules: Mapping[str, NamedSchedule] = field(default_factory=dict)
    entity: Entity | None = None
    # configure(url) points an application that connects itself at the scratch database (uses="app")
    configure: Configure | None = None
    # name -> predicate over an entity's state that must hold on every read and on the final state
    invariants: Mapping[str, Predicate] = field(default_factory=dict)
    # checks of its own beside the built-in ones (race_harness.checkers.CHECKERS), in every run,
    # replay, exploration and pytest test of it
    checkers: Sequence[Checker] = ()
    # precision -> the storage built for it (see tables()); a copy made with replace() builds its own
    _tables: dict[int, EntityTables] = field(default_factory=dict, init=False, repr=False, compare=False)
    # the text get_scenario found it by, or where it is kept: what -s takes to find it again (a copy
    # made with dataclasses.replace starts without one: it is a scenario of its own)
    _found_by: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.schema is None) == (self.entity is None):
            raise UsageError(
                f"scenario {self.name!r} needs either entity=Entity(...) (the application's tables) or schema"
            )
        if self.next_write is None and not self.operations:
            raise UsageError(f"scenario {self.name!r} has no operations (operations={{name: operation(...)}})")
        bound: dict[str, WriteMaker] = {}
        for name, op in self.operations.items():
            if isinstance(op, AppOperation):
                if self.entity is None:
                    raise UsageError(f"operation {name!r} calls an application function: declare the scenario's entity")
                # a bound copy: the declaration given stays as it was, so it can serve other scenarios
                op = op.bound(self.entity, name)
                if op.uses == "app" and self.configure is None:
                    raise UsageError(
                        f"operation {name!r} of scenario {self.name!r} connects itself (uses='app'): give the "
                        "scenario configure=..., which points the application at a database URL"
                    )
            bound[name] = op
        object.__setattr__(self, "operations", bound)  # frozen: set once, while it is made
        for name, predicate in self.invariants.items():
            if not callable(predicate):
                raise UsageError(
                    f"scenario {self.name!r}: invariant {name!r} must be a function of an entity's state but got "
                    f"{predicate!r}"
                )

    def configure_app(self, url: URL) -> None:
        """Point the application at ``url`` (the scenario's ``configure``), if it connects itself."""
        if self.configure is not None:
            forget_configuration()  # while it runs, and if it fails, the application points nowhere known
            run_setup("configure(url)", self.configure, url, self.name)
            configured(self.configure, url)

    @property
    def database_key(self) -> str | None:
        """What names the scratch databases of an application that connects itself: the same name
        for every database this process makes for it (one at a time), so the application is
        configured once and stays pointed there, cell after cell and test after test, as an
        application whose engine can be configured only once must be (oslo.db's enginefacade).
        Keyed by the ``configure`` hook, so a module's scenarios share it."""
        if self.configure is None:
            return None
        hook = self.configure
        return f"{getattr(hook, '__module__', '')}.{getattr(hook, '__qualname__', type(hook).__qualname__)}"

    def configured_for(self, url: URL) -> bool:
        """Whether the last ``configure`` this process called was this scenario's, with ``url``: the
        application points there still, so a schedule on the same database need not configure again."""
        return self.configure is not None and last_configured() == (self.configure, url)

    @property
    def is_app(self) -> bool:
        """Its operations are the application's own functions (the ``app`` strategy runs them)."""
        return self.entity is not None

    def write(self, ctx: WriterContext) -> WriteOp:
        """The next stress write: ``next_write``'s, else the operations' in turn."""
        if self.next_write is not None:
            return self.next_write(ctx)
        ops = list(self.operations.values())
        return ops[(ctx.session + ctx.seq) % len(ops)](ctx)

    def tables(self, precision: int) -> EntityTables:
        """The storage the runners create, seed and read: the harness's tables for ``schema``, the
        application's own for ``entity``."""
        tables = self._tables.get(precision)
        if tables is None:
            if self.entity is not None:
                from race_harness.entity import EntityTables

                tables = EntityTables(self.entity, self.name)
            else:
                from race_harness.schema import build_tables

                assert self.schema is not None
                tables = build_tables(self.schema, precision, self.initial)
            # one object per precision: its statements are built once and kept, and a runner that
            # meets the same object again reloads its rows instead of dropping and creating tables
            self._tables[precision] = tables
        return tables

    @property
    def ref(self) -> str:
        """What ``-s`` takes to find this scenario again from the user's directory: the name or
        import path :func:`get_scenario` found it by, else the import path of the module attribute
        holding it, else its name. (A copy made with ``dataclasses.replace`` is a scenario of its
        own: it is found by where it is kept, never by the name of the one it was copied from.)"""
        if self._found_by is not None:
            return self._found_by
        from race_harness.refs import ref_of

        path = ref_of(self)  # a scan of the loaded modules: kept, since every schedule run asks
        if path is None:
            return self.name
        self._keep_ref(path)
        return path

    def _keep_ref(self, text: str) -> None:
        object.__setattr__(self, "_found_by", text)  # frozen: a memo of how it is found, set once

    def expectation(self, strategy: Strategy, processes: bool = False) -> Expectation | Literal["n/a"] | None:
        """``lost``/``none`` as declared, ``n/a`` when not applicable, None when nothing is declared.

        A strategy that is only safe within one process (``process-lock``) is expected to lose
        updates when the writers are separate processes.
        """
        if processes and strategy.one_process_only and self.expectation(strategy) == "none":
            return "lost"
        if (strategy.name == "app") != self.is_app:  # app code runs only app scenarios, and only app code does
            return "n/a"
        for key in (strategy.spec, strategy.name):
            if key in self.expected:
                return self.expected[key]
        if self.applicable is not None and not ({strategy.spec, strategy.name} & self.applicable):
            return "n/a"
        if self.bug is not None and (said := strategy.expected_against(self.bug)) is not None:
            return said
        return "none" if strategy.claims_safe else None

    def with_params(self, values: Mapping[str, float]) -> Scenario:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise UsageError(f"scenario {self.name!r} has no parameter {unknown[0]!r}; expected one of: {known}")
        copy = replace(self, params={**self.params, **values})
        copy._keep_ref(self.ref)  # the same scenario with other parameters (--param)
        return copy

    @property
    def entities(self) -> list[int]:
        return self.entity.entities if self.entity is not None else sorted(self.initial)

    @property
    def schedule_operations(self) -> Mapping[str, WriteMaker]:
        if self.operations:
            return self.operations
        assert self.next_write is not None
        return {"write": self.next_write}

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


ENTRY_POINT_GROUP = "race_harness.scenarios"


def bundled_names() -> list[str]:
    from race_harness import scenarios

    return sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if not m.name.startswith("_"))


def _plugins() -> dict[str, EntryPoint]:
    """Scenarios other packages register; a plug-in may not shadow a bundled scenario."""
    from importlib.metadata import entry_points  # not at import: a bundled name never needs it

    bundled = set(bundled_names())
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in bundled}


def scenario_names() -> list[str]:
    """The bundled scenarios, then those registered by other packages."""
    return bundled_names() + sorted(_plugins())


def _as_scenario(found: object, where: str) -> Scenario:
    """A Scenario, or a module exposing ``SCENARIO``; anything else is a one-line error naming ``where``."""
    if isinstance(found, ModuleType):
        found = getattr(found, "SCENARIO", found)
    if not isinstance(found, Scenario):
        raise UsageError(f"scenario {where} is not a race_harness.Scenario but {type(found).__name__}")
    return found


def get_scenario(name: str) -> Scenario:
    """A scenario by bundled name, plug-in name or import path (``module:ATTR``, ``file.py:ATTR``)."""
    if name in bundled_names():
        found: object = importlib.import_module(f"race_harness.scenarios.{name}")
    elif name in (plugins := _plugins()):
        try:
            found = plugins[name].load()
        except Exception as exc:
            raise UsageError(
                f"scenario plug-in {name!r} ({plugins[name].value}) failed to load: {type(exc).__name__}: {exc}"
            ) from None
    elif is_import_path(name):
        found = load_ref(name, "scenario")
    else:
        raise UnknownNameError("scenario", name, scenario_names(), "an import path like myapp.races:SCENARIO")
    scenario = _as_scenario(found, repr(name))
    if scenario._found_by is None:
        scenario._keep_ref(name)
    return scenario


def describe(scenario: Scenario) -> list[str]:
    """The scenario's tables, initial state and operations, as ``race-harness list -v`` prints them:
    what a user's own strategy reads and receives."""
    if scenario.entity is not None:
        create = scenario.entity.create
        made = f"made by {create}" if create is not None else "created from its MetaData"
        lines = [f"tables (the application's own, {made}; entity table {scenario.entity.parent.name}):"]
        if scenario.configure is not None:
            hook = scenario.configure
            if getattr(hook, "adapter", None) is not None:  # a framework's adapter (race_harness.django)
                lines.insert(0, f"the application connects itself through the adapter {hook}")
            else:
                name = f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', repr(hook))}"
                lines.insert(0, f"the application connects itself: {name}(url) points it at the scratch database")
    else:
        lines = ["tables (updated_at's fractional digits come from the strategy: timestamp-occ:0 -> whole seconds):"]
    for table in scenario.tables(6).metadata.sorted_tables:
        cols = []
        for c in table.columns:
            kind = "TIMESTAMP(p)" if c.name == "updated_at" else str(c.type)
            refs = "".join(f" -> {fk.column.table.name}.{fk.column.name}" for fk in c.foreign_keys)
            cols.append(f"{c.name} {kind}{refs}")
        key = ", ".join(c.name for c in table.primary_key.columns)
        lines.append(f"  {table.name}({', '.join(cols)}; primary key {key})")
    lines.append(
        "state (what snapshot.state holds; a child row's key k is the field kv:k; version and "
        "updated_at are snapshot.version and snapshot.updated_at):"
    )
    if scenario.entity is not None:
        e = scenario.entity
        seed = getattr(e.seed, "__qualname__", repr(e.seed))
        if e.read is not None:  # what the checker reads is the application's own read, not the default
            reader = getattr(e.read, "__qualname__", repr(e.read))
            lines.append(f"  what {reader}(conn, key) returns (the scenario's own read); as {seed} seeds them")
        else:
            tokens = f", not the tokens {', '.join(e.all_tokens)}" if e.all_tokens else ""
            lines.append(
                f"  the columns of {e.parent.name} but its key {e.key_column.name}{tokens}; as {seed} seeds them"
            )
            if e.children is not None:
                child, _, child_key, value = e.child_columns
                kept = " and ".join(
                    f"{c} {'IS NULL' if v is None else f'= {v!r}'}" for c, v in e.children.where.items()
                )
                shown = value.name if value is not None else '""'
                lines.append(
                    f"  and kv:<{child_key.name}> = {shown} per row of {child.name}"
                    + (f" where {kept} (the others are soft-deleted: absent)" if kept else "")
                )
            lines.append(f"  read in one statement: {' '.join(str(e.snapshot_select).split())}")
        lines += [f"  entity {n}: key {e.key_of(n)!r}" for n in e.entities]
    for entity, state in scenario.initial.items():
        lines.append(f"  entity {entity}: " + ", ".join(f"{k}={v!r}" for k, v in state.items()))
    lines.append("operations (the intent a strategy's save receives; values are unique to each write):")
    for name in scenario.schedule_operations:
        w = scenario.schedule_write(0, name, 2)
        parts = [f"sets {', '.join(w.intent.sets)}"] if w.intent.sets else []
        parts += [f"increments {', '.join(f'{k} by {v}' for k, v in w.intent.increments.items())}"] * bool(
            w.intent.increments
        )
        parts += [f"removes {', '.join(sorted(w.intent.removes))}"] * bool(w.intent.removes)
        parts += ["replaces the child rows (keys it does not set are deleted)"] * w.intent.replace_children
        calls = ""
        if w.call is not None:
            handle = "" if w.call.uses == "app" else f"<{w.call.uses}>, "
            calls = f"calls {w.call.name}({handle}key, ...), "
        lines.append(f"  {name} ({calls}{w.name}, entity {w.entity}): {'; '.join(parts) or 'no change'}")
    return lines
