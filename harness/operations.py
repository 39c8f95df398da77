"""The application's own functions as a scenario's write operations.

An operation is an unmodified application function plus a short declaration of what it means::

    operation(docs.rename, uses="session", sets="title")
    operation(stock.receive, uses="connection", increments={"on_hand": "qty"}, values={"qty": 5})
    operation(docs.add_tag, uses="session", adds_child="tag")

The harness calls ``function(handle, key, **parameters)``: ``handle`` is what ``uses`` names (an ORM
``Session``, a Core ``Connection``, or the driver's own psycopg / PyMySQL / sqlite3 connection),
``key`` the entity's key, and each declared parameter gets its value: a value unique to the call for
the fields it ``sets`` and the child key it adds (so a stored value names the call that stored it),
the ``values`` given for the rest. The declaration becomes the checker's :class:`Intent`.

``uses="app"`` is for code that reaches the database through its own engine or session factory
(built from configuration, not handed a connection): the harness calls ``function(key, **parameters)``
after the scenario's ``configure(url)`` pointed the application at the scratch database, and sees
its statements through SQLAlchemy's events on every engine.

The function runs as it does in production: it opens, commits or rolls back its transactions itself.
A transaction it leaves open is committed when it returns, as a web framework does at the end of a
request. An exception it raises is the request failing: a conflict when it is one of ``conflicts``
(SQLAlchemy's ``StaleDataError`` always is), a database error as the database's abort; any other
exception is the application's crash, which the harness reports and never counts as a verdict.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from race_harness.errors import UsageError
from race_harness.model import FieldType, Intent, Value, kv_field

if TYPE_CHECKING:
    from race_harness.entity import Entity

Handle = Literal["session", "connection", "dbapi", "app"]
HANDLES: tuple[Handle, ...] = ("session", "connection", "dbapi", "app")


@dataclass(frozen=True)
class AppCall:
    """One call of an application function, with the values unique to it."""

    function: Callable[..., Any]
    uses: Handle
    parameters: Mapping[str, Any]
    conflicts: tuple[type[BaseException], ...] = ()
    refused: Callable[[Any], bool] | None = None

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))


@dataclass
class AppOperation:
    """A scenario operation that calls an application function (see the module docstring)."""

    function: Callable[..., Any]
    uses: Handle = "connection"
    name: str | None = None
    sets: Mapping[str, str] = field(default_factory=dict)  # state field -> parameter carrying its new value
    increments: Mapping[str, str | int] = field(default_factory=dict)  # field -> parameter (delta) or a delta
    adds_child: str | None = None  # parameter that gets a new, unique child key
    child_value: str | None = None  # parameter that gets the new child's unique value
    removes_child: str | None = None  # parameter naming (by ``values``) a child the call deletes
    values: Mapping[str, Any] = field(default_factory=dict)  # fixed values of the other parameters
    conflicts: tuple[type[BaseException], ...] = ()
    refused: Callable[[Any], bool] | None = None  # a return value that means "refused" (e.g. False)
    entity: int | None = None  # which entity (1-based); None: one per call, round robin over the keys
    kinds: dict[str, FieldType] = field(default_factory=dict)  # of the set fields, from the entity's columns
    keys: int = 1

    @property
    def op_name(self) -> str:
        return self.name or str(getattr(self.function, "__name__", "operation"))

    def bound(self, entity: Entity, name: str) -> AppOperation:
        """A copy checked against the scenario's entity and the function's signature, named ``name``
        unless it has a name of its own (this declaration is left as it is: it may serve others)."""
        from sqlalchemy import Integer, Numeric

        op = replace(self, name=self.name or name, kinds=dict(self.kinds), keys=len(entity.keys))
        columns = {c.name: c for c in entity.state_columns}
        for fld in [*op.sets, *op.increments]:
            if fld not in columns and entity.read is None:
                known = ", ".join(columns) or "none"
                raise UsageError(
                    f"operation {op.op_name!r} names field {fld!r}, which is not a column of "
                    f"{entity.parent.name!r} in the state; expected one of: {known}"
                )
        for fld in op.sets:
            col = columns.get(fld)
            kind: FieldType = "int" if col is not None and isinstance(col.type, Integer | Numeric) else "text"
            op.kinds[fld] = kind
        if (op.adds_child or op.removes_child) and entity.children is None and entity.read is None:
            raise UsageError(f"operation {op.op_name!r} changes child rows but the entity declares no children")
        if op.removes_child is not None and op.removes_child not in op.values:
            raise UsageError(
                f"operation {op.op_name!r} removes the child named by parameter {op.removes_child!r}: "
                "give its key in values={...}"
            )
        if op.entity is not None and not 1 <= op.entity <= len(entity.keys):
            raise UsageError(f"operation {op.op_name!r}: entity {op.entity} is not 1..{len(entity.keys)}")
        for fld, by in op.increments.items():
            delta = by if isinstance(by, int) else op.values.get(by, 1)
            if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
                raise UsageError(
                    f"operation {op.op_name!r}: the increment of {fld!r} must be a whole number other than 0 "
                    f"(negative for a decrement) but is {delta!r}"
                )
        op._check_signature()
        return op

    def _parameter_names(self) -> list[str]:
        names = [*self.sets.values(), *(p for p in self.increments.values() if isinstance(p, str))]
        names += [p for p in (self.adds_child, self.child_value, self.removes_child) if p is not None]
        return [*names, *(n for n in self.values if n not in names)]

    def _check_signature(self) -> None:
        try:
            sig = inspect.signature(self.function)
        except (TypeError, ValueError):  # a builtin or C function: nothing to check against
            return
        leading = (object(),) if self.uses == "app" else (object(), object())
        try:
            sig.bind(*leading, **dict.fromkeys(self._parameter_names()))
        except TypeError as exc:
            shape = ", ".join([*(["key"] if self.uses == "app" else ["handle", "key"]), *self._named()])
            name = getattr(self.function, "__name__", repr(self.function))
            raise UsageError(f"operation {self.op_name!r}: {name}{sig} cannot be called as ({shape}): {exc}") from None

    def _named(self) -> list[str]:
        return [f"{n}=..." for n in self._parameter_names()]

    def __call__(self, ctx: WriterContext) -> WriteOp:
        params: dict[str, Any] = dict(self.values)
        sets: dict[str, Value] = {}
        for fld, param in self.sets.items():
            params[param] = sets[fld] = ctx.unique(self.kinds.get(fld, "text"))
        increments: dict[str, int] = {}
        for fld, by in self.increments.items():
            if isinstance(by, int):
                increments[fld] = by
            else:
                increments[fld] = params.setdefault(by, 1)
        if self.adds_child is not None:
            child = str(ctx.unique())
            params[self.adds_child] = child
            value: Value = ""
            if self.child_value is not None:
                params[self.child_value] = value = f"v{child}"
            sets[kv_field(child)] = value
        removes = frozenset({kv_field(str(self.values[self.removes_child]))} if self.removes_child else ())
        # a session stays on a key for two calls, then moves to the next: the operations take turns
        # call by call, so moving every call would give each key always the same operation (with two
        # operations over an even number of keys), and calls on one key would never change different fields
        entity = self.entity or (ctx.session + ctx.seq // 2) % self.keys + 1
        call = AppCall(self.function, self.uses, params, self.conflicts, self.refused)
        return WriteOp(self.op_name, entity, Intent(sets=sets, increments=increments, removes=removes), call)


def _as_fields(spec: str | Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    if spec is None:
        return {}
    if isinstance(spec, str):
        return {spec: spec}
    if isinstance(spec, Mapping):
        return dict(spec)
    return {name: name for name in spec}


def operation(
    function: Callable[..., Any],
    *,
    uses: Handle = "connection",
    sets: str | Iterable[str] | Mapping[str, str] | None = None,
    increments: Mapping[str, str | int] | None = None,
    adds_child: str | None = None,
    child_value: str | None = None,
    removes_child: str | None = None,
    values: Mapping[str, Any] | None = None,
    conflicts: Iterable[type[BaseException]] = (),
    refused: Callable[[Any], bool] | None = None,
    entity: int | None = None,
    name: str | None = None,
) -> AppOperation:
    """Declare an application function as a write operation (see the module docstring).

    ``sets``: the fields the call sets, each from the parameter of the same name (a name, a list of
    names, or ``{field: parameter}``). ``increments``: ``{field: parameter}`` (the delta is that
    parameter's value from ``values``, default 1) or ``{field: delta}``. ``adds_child``: the parameter
    that gets a new child key; ``child_value``: the one that gets its value. ``removes_child``: the
    parameter naming a child the call deletes (its key in ``values``).
    """
    if uses not in HANDLES:
        raise UsageError(f"expected uses to be one of {', '.join(HANDLES)} but got {uses!r}")
    if not callable(function):
        raise UsageError(f"operation needs the application's function but got {function!r}")
    op = AppOperation(
        function,
        uses,
        name,
        _as_fields(sets),
        dict(increments or {}),
        adds_child,
        child_value,
        removes_child,
        dict(values or {}),
        tuple(conflicts),
        refused,
        entity,
    )
    if not (op.sets or op.increments or adds_child or removes_child):
        raise UsageError(
            f"operation {op.op_name!r} declares no change: say what it sets, increments, adds or removes "
            "(sets=..., increments=..., adds_child=..., removes_child=...)"
        )
    return op


__all__ = ["HANDLES", "AppCall", "AppOperation", "Handle", "operation"]


@dataclass(frozen=True)
class WriteOp:
    name: str  # the operation's name, as the history records it
    entity: int
    intent: Intent
    call: AppCall | None = None  # the application function that performs it (an app scenario's)


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


WriteMaker = Callable[[WriterContext], WriteOp]  # a scenario's operation: makes a writer's next write
