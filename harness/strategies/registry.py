"""Find strategies by name: the built-ins plus whatever is registered under the entry-point group
``race_harness.strategies`` (``name = "package.module:StrategyClass"``), or by import path
(``myapp.races:CheckedSave``, ``tests/races.py:CheckedSave``, either with ``:PARAM``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from race_harness.errors import UnknownNameError, UsageError
from race_harness.refs import is_import_path, load_ref, ref_of
from race_harness.strategies.base import Strategy

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

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
    "app": ("race_harness.strategies.application", "Application"),
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
    from importlib.metadata import entry_points  # not at import: a built-in name never needs it

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def available() -> dict[str, type[Strategy]]:
    """Every strategy class by name: the built-ins, then the plug-ins."""
    found = {name: _builtin(name) for name in BUILTIN}
    found.update({name: _plugin(ep) for name, ep in _plugins().items()})
    return found


def registered(name: str) -> type[Strategy] | None:
    """The class a built-in or plug-in name stands for, or None."""
    if name in BUILTIN:
        return _builtin(name)
    plugins = _plugins()
    return _plugin(plugins[name]) if name in plugins else None


def strategy_ref(strategy: Strategy) -> str:
    """What ``-S`` takes to build this exact configuration again from the user's directory: the spec
    when its name is registered (built-in or entry point), else the class's import path with the
    spec's ``:param``."""
    param = strategy.spec[len(strategy.name) :] if strategy.spec.startswith(strategy.name) else ""
    if strategy.source is None:  # worked out once: every schedule run asks
        try:
            if registered(strategy.name) is type(strategy):
                strategy.source = strategy.name
        except UsageError:  # a broken plug-in of the same name: the import path still finds this one
            pass
    if strategy.source is None:
        strategy.source = ref_of(type(strategy)) or strategy.name
    return strategy.source + param


def get_strategy(spec: str) -> Strategy:
    """``name``, ``name:param``, or an import path ``module:Class[:param]`` -> a configured strategy."""
    name, sep, param = spec.partition(":")
    cls = registered(name)
    if cls is None and is_import_path(spec):
        path, _, param = spec.partition(":")
        attr, sep, param = param.partition(":")
        path = f"{path}:{attr}" if attr else path
        cls = _imported(path)
        strategy = cls(param if sep else None)
        strategy.source = path
        return strategy
    if cls is None:
        raise UnknownNameError("strategy", spec, [*BUILTIN, *_plugins()], "an import path like myapp.races:CheckedSave")
    return cls(param if sep else None)


def _imported(path: str) -> type[Strategy]:
    cls = load_ref(path, "strategy")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise UsageError(f"strategy {path!r} is not a race_harness.Strategy subclass but {cls!r}")
    return cls
