"""Find strategies by name: the built-ins plus whatever is registered under the entry-point group
``race_harness.strategies`` (``name = "package.module:StrategyClass"``)."""

from __future__ import annotations

from importlib.metadata import entry_points

from race_harness.errors import UnknownNameError, UsageError
from race_harness.strategies.atomic_update import AtomicUpdate
from race_harness.strategies.base import Strategy
from race_harness.strategies.compare_and_swap import CompareAndSwap
from race_harness.strategies.full_row import FullRow
from race_harness.strategies.orm_version import ORMVersionCounter
from race_harness.strategies.partial_update import PartialUpdate
from race_harness.strategies.process_lock import ProcessLock
from race_harness.strategies.select_for_update import SelectForUpdate
from race_harness.strategies.serializable_retry import SerializableRetry
from race_harness.strategies.timestamp_occ import TimestampOCC
from race_harness.strategies.version_occ import VersionOCC

ENTRY_POINT_GROUP = "race_harness.strategies"
BUILTIN: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        FullRow,
        PartialUpdate,
        TimestampOCC,
        VersionOCC,
        SelectForUpdate,
        AtomicUpdate,
        SerializableRetry,
        CompareAndSwap,
        ORMVersionCounter,
        ProcessLock,
    )
}
# What `race-harness run` compares when no --strategy is given: the seed bugs' strategies and fixes.
DEFAULT_SPECS = ("full-row", "partial-update", "timestamp-occ:0", "timestamp-occ:6", "version-occ")
# the further fixes users compare (race-harness run -S all, or name them)
MORE_SPECS = (
    "select-for-update",
    "atomic-update",
    "serializable-retry",
    "compare-and-swap",
    "orm-version-counter",
    "process-lock",
)
ALL_SPECS = DEFAULT_SPECS + MORE_SPECS


def available() -> dict[str, type[Strategy]]:
    """Every strategy class by name; plug-ins may not shadow a built-in."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            continue
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
        found[ep.name] = cls
    return found


def get_strategy(spec: str) -> Strategy:
    """``name`` or ``name:param`` -> a configured strategy."""
    name, _, param = spec.partition(":")
    classes = available()
    if name not in classes:
        raise UnknownNameError("strategy", spec, list(classes))
    return classes[name](param if _ else None)
