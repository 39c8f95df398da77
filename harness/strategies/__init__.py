"""Update strategies: the ways an application persists a change."""

from race_harness.defaults import ALL_SPECS, DEFAULT_SPECS, MORE_SPECS
from race_harness.strategies.base import Conflict, FinishOnCommit, Saved, SaveOnCommit, SaveResult, Strategy
from race_harness.strategies.registry import ENTRY_POINT_GROUP, available, get_strategy

__all__ = [
    "ALL_SPECS",
    "DEFAULT_SPECS",
    "ENTRY_POINT_GROUP",
    "MORE_SPECS",
    "Conflict",
    "FinishOnCommit",
    "SaveOnCommit",
    "SaveResult",
    "Saved",
    "Strategy",
    "available",
    "get_strategy",
]
