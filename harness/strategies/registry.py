"""Find strategies by name: whatever is registered under the entry-point group
``race_harness.strategies`` (``name = "package.module:StrategyClass"``; the built-ins are registered
there by race-harness's own ``pyproject.toml``, as a plug-in's are by its own), or by import path
(``myapp.races:CheckedSave``, ``tests/races.py:CheckedSave``, either with ``:PARAM``)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from race_harness.defaults import DEFAULT_SPECS
from race_harness.errors import UnknownNameError, UsageError
from race_harness.refs import is_import_path, load_ref, ref_of
from race_harness.strategies.base import Strategy

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "race_harness.strategies"
BUILTIN_PREFIX = "race_harness.strategies."  # where the built-ins' entry points point
APP = "app"  # the application's own code, as a strategy


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    """Every strategy registered under the group, race-harness's own first (each class is imported
    only when asked for: orm-version-counter alone would bring in SQLAlchemy's ORM). A plug-in may
    not shadow a built-in name. Read once per process: listing the group reads every installed
    package's metadata, a few milliseconds, and a replay asks twice."""
    from importlib.metadata import entry_points  # not at import: listing them reads every package's metadata

    found = entry_points(group=ENTRY_POINT_GROUP)
    if not any(map(_builtin, found)):
        raise UsageError(
            "no built-in strategy is registered: race-harness is not installed (pip install -e . in a checkout)"
        )
    order: dict[str, int] = {}  # the default set first, as --help lists it; the other built-ins, the plug-ins
    for spec in DEFAULT_SPECS:
        order.setdefault(spec.partition(":")[0], len(order))

    def rank(ep: EntryPoint) -> tuple[bool, int, str]:
        return not _builtin(ep), order.get(ep.name, len(order)), ep.name

    kept: dict[str, EntryPoint] = {}
    for ep in sorted(found, key=rank):
        kept.setdefault(ep.name, ep)  # a built-in's name before a plug-in's
    return kept


def _builtin(ep: EntryPoint) -> bool:
    return ep.value.startswith(BUILTIN_PREFIX)


def _loaded(ep: EntryPoint) -> type[Strategy]:
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


def all_specs() -> tuple[str, ...]:
    """What ``-S all`` runs: the default set, then every other built-in in its default configuration
    (``app`` runs application scenarios only, and is left to them)."""
    named = {spec.partition(":")[0] for spec in DEFAULT_SPECS}
    more = [name for name, ep in _registered().items() if _builtin(ep)]
    return DEFAULT_SPECS + tuple(n for n in more if n not in named and n != APP)


def available() -> dict[str, type[Strategy]]:
    """Every strategy class by name: the built-ins, then the plug-ins."""
    return {name: _loaded(ep) for name, ep in _registered().items()}


def registered(name: str) -> type[Strategy] | None:
    """The class a built-in or plug-in name stands for, or None."""
    found = _registered()
    return _loaded(found[name]) if name in found else None


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
        raise UnknownNameError("strategy", spec, list(_registered()), "an import path like myapp.races:CheckedSave")
    return cls(param if sep else None)


def _imported(path: str) -> type[Strategy]:
    cls = load_ref(path, "strategy")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise UsageError(f"strategy {path!r} is not a race_harness.Strategy subclass but {cls!r}")
    return cls
