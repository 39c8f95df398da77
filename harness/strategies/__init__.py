"""Update strategies: the ways an application persists a change."""

from race_harness.defaults import DEFAULT_SPECS
from race_harness.strategies.base import Conflict, FinishOnCommit, Saved, SaveOnCommit, SaveResult, Strategy
from race_harness.strategies.registry import ENTRY_POINT_GROUP, all_specs, available, get_strategy

__all__ = [
    "DEFAULT_SPECS",
    "ENTRY_POINT_GROUP",
    "Conflict",
    "FinishOnCommit",
    "SaveOnCommit",
    "SaveResult",
    "Saved",
    "Strategy",
    "all_specs",
    "available",
    "get_strategy",
]
