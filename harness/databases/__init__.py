"""Database backends (one module per engine) and the providers that say where they come from."""

from harness.databases.base import NAME_PREFIX, Backend, ScratchDatabase
from harness.databases.providers import DEFAULT_DBS, ENV_URLS, resolve, resolve_all
from harness.databases.urls import mask_url

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
