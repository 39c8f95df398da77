"""Find strategies by name: the built-ins plus whatever is registered under the entry-point group
``race_harness.strategies`` (``name = "package.module:StrategyClass"``)."""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

from race_harness.errors import UnknownNameError, UsageError
from race_harness.strategies.base import Strategy

ENTRY_POINT_GROUP = "race_harness.strategies"
# Imported when first asked for: orm-version-counter alone would bring in SQLAlchemy's ORM.
BUILTIN: dict[str, tuple[str, str]] = {
    "full-row": ("race_harness.strategies.full_row", "FullRow"),
    "partial-update": ("race_harness.strategies.partial_update", "PartialUpdate"),
    "timestamp-occ": ("race_harness.strategies.timestamp_occ", "TimestampOCC"),
    "version-occ": ("race_harness.strategies.version_occ", "VersionOCC"),
    "select-for-update": ("race_harness.strategies.select_for_update", "SelectForUpdate"),
    "atomic-update": ("race_harness.strategies.atomic_update", "AtomicUpdate"),
    "serializable-retry": ("race_harness.strategies.serializable_retry", "SerializableRetry"),
    "compare-and-swap": ("race_harness.strategies.compare_and_swap", "CompareAndSwap"),
    "orm-version-counter": ("race_harness.strategies.orm_version", "ORMVersionCounter"),
    "process-lock": ("race_harness.strategies.process_lock", "ProcessLock"),
}


def _builtin(name: str) -> type[Strategy]:
    module, attr = BUILTIN[name]
    cls: type[Strategy] = getattr(importlib.import_module(module), attr)
    return cls


def _plugin(ep: EntryPoint) -> type[Strategy]:
    try:
        cls = ep.load()
    except Exception as exc:
        raise UsageError(
            f"strategy plug-in {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise UsageError(
            f"strategy plug-in {ep.name!r} ({ep.value}) is not a race_harness.Strategy subclass but {cls!r}"
        )
    return cls


def _plugins() -> dict[str, EntryPoint]:
    """Registered plug-ins by name; a plug-in may not shadow a built-in."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def available() -> dict[str, type[Strategy]]:
    """Every strategy class by name: the built-ins, then the plug-ins."""
    found = {name: _builtin(name) for name in BUILTIN}
    found.update({name: _plugin(ep) for name, ep in _plugins().items()})
    return found


def get_strategy(spec: str) -> Strategy:
    """``name`` or ``name:param`` -> a configured strategy."""
    name, _, param = spec.partition(":")
    if name in BUILTIN:
        cls = _builtin(name)
    else:
        plugins = _plugins()
        if name not in plugins:
            raise UnknownNameError("strategy", spec, [*BUILTIN, *plugins])
        cls = _plugin(plugins[name])
    return cls(param if _ else None)
