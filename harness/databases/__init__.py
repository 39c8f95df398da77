"""Database backends (one module per engine) and the providers that say where they come from."""

from race_harness.databases.base import NAME_PREFIX, Backend, ScratchDatabase
from race_harness.databases.providers import DEFAULT_DBS, ENV_URLS, resolve, resolve_all
from race_harness.databases.urls import mask_url

__all__ = [
    "DEFAULT_DBS",
    "ENV_URLS",
    "NAME_PREFIX",
    "Backend",
    "ScratchDatabase",
    "mask_url",
    "resolve",
    "resolve_all",
]
