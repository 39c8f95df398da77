"""Update strategies: the ways an application persists a change."""

from harness.strategies.base import Conflict, Saved, SaveResult, Strategy
from harness.strategies.registry import DEFAULT_SPECS, ENTRY_POINT_GROUP, available, get_strategy

__all__ = [
    "DEFAULT_SPECS",
    "ENTRY_POINT_GROUP",
    "Conflict",
    "SaveResult",
    "Saved",
    "Strategy",
    "available",
    "get_strategy",
]
