"""The data every role shares: an entity's state, a write's intent, a read's snapshot.

An entity is one parent row (attribute columns, a ``version`` and an ``updated_at`` column) plus
optional child key/value rows (Glance image properties, Nova instance metadata). Its state is a flat
mapping: attribute ``name`` -> value, child key ``k`` -> value under the field name ``"kv:k"``. One
namespace keeps strategies, history and checker free of per-scenario shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal

Value = str | int
State = dict[str, Value]
KV_PREFIX = "kv:"
FieldType = Literal["text", "int"]


def is_kv(field_name: str) -> bool:
    return field_name.startswith(KV_PREFIX)


def kv_field(key: str) -> str:
    return KV_PREFIX + key


def kv_key(field_name: str) -> str:
    return field_name[len(KV_PREFIX) :]


@dataclass(frozen=True)
class EntitySchema:
    """Shape of a scenario's entity: table names and attribute columns with their types."""

    table: str
    attributes: Mapping[str, FieldType]
    has_children: bool = False

    @property
    def child_table(self) -> str:
        return f"{self.table}_kv"


@dataclass(frozen=True)
class Intent:
    """What one write means to do, independent of how a strategy persists it.

    ``sets`` carries values unique to this write, so a stored value names the write that produced it.
    ``increments`` are read-modify-write deltas (the new value depends on what was read).
    ``replace_children`` is Nova's ``update_all``: child keys not in ``sets`` are to be deleted.
    """

    sets: Mapping[str, Value] = field(default_factory=dict)
    increments: Mapping[str, int] = field(default_factory=dict)
    removes: frozenset[str] = frozenset()
    replace_children: bool = False

    def apply(self, state: Mapping[str, Value]) -> State:
        """The state this write wants, computed from ``state`` (what the application read)."""
        new = dict(state)
        for name, delta in self.increments.items():
            current = new.get(name, 0)
            if not isinstance(current, int):
                raise TypeError(f"cannot increment non-integer field {name}={current!r}")
            new[name] = current + delta
        if self.replace_children:
            for name in [n for n in new if is_kv(n) and n not in self.sets]:
                del new[name]
        new.update(self.sets)
        for name in self.removes:
            new.pop(name, None)
        return new

    def removed_children(self, state: Mapping[str, Value]) -> set[str]:
        """Child fields this write deletes when applied to ``state``."""
        gone = {n for n in self.removes if n in state}
        if self.replace_children:
            gone |= {n for n in state if is_kv(n) and n not in self.sets}
        return gone

    @property
    def fields(self) -> set[str]:
        return set(self.sets) | set(self.increments) | set(self.removes)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.sets:
            out["sets"] = dict(self.sets)
        if self.increments:
            out["increments"] = dict(self.increments)
        if self.removes:
            out["removes"] = sorted(self.removes)
        if self.replace_children:
            out["replace_children"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Intent:
        sets = data.get("sets", {})
        increments = data.get("increments", {})
        removes = data.get("removes", [])
        assert isinstance(sets, dict) and isinstance(increments, dict) and isinstance(removes, list)
        return cls(
            sets=dict(sets),
            increments=dict(increments),
            removes=frozenset(removes),
            replace_children=bool(data.get("replace_children", False)),
        )


@dataclass(frozen=True)
class Snapshot:
    """One committed state of an entity as read in a single statement, with its concurrency tokens."""

    entity: int
    state: Mapping[str, Value]
    version: int
    updated_at: datetime | None

    @cached_property
    def fingerprint(self) -> frozenset[tuple[str, Value]]:
        """The state's identity, computed once: checkers group and compare reads by it."""
        return fingerprint(self.state)

    def to_json(self) -> dict[str, object]:
        return {
            "state": dict(self.state),
            "version": self.version,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, entity: int, data: Mapping[str, object]) -> Snapshot:
        state = data["state"]
        version = data["version"]
        ts = data.get("updated_at")
        assert isinstance(state, dict) and isinstance(version, int)
        return cls(entity, dict(state), version, datetime.fromisoformat(ts) if isinstance(ts, str) else None)


def fingerprint(state: Mapping[str, Value]) -> frozenset[tuple[str, Value]]:
    """A hashable identity of a state; every acknowledged write changes it, so it names a version.
    A frozenset, not a sorted tuple: hashing it needs no sort, and order carries no meaning here."""
    return frozenset(state.items())
