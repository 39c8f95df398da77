"""Schema templates: an application's schema made once per server, copied for every scratch database.

An application's own migrations (``Entity(create=...)``) can take tens of seconds; a stress cell,
a replay, an exploration and a pytest test each need a database holding that schema. The first
one on a server runs the migrations in a scratch database of its own and publishes it under
``race_harness_template_<fingerprint>``; every later one, in this run or a later one, gets a copy
(PostgreSQL ``CREATE DATABASE ... TEMPLATE``, MySQL/MariaDB the tables and their rows, SQLite the
file). The fingerprint is a hash of what ``create`` runs, so a changed migration makes a new
template; ``race-harness clean --templates`` lists and drops them.

What a fingerprint covers, per kind of ``create``:

- :class:`~race_harness.Alembic`: every file under the script location, the ``alembic.ini``, the
  revision;
- :class:`~race_harness.Command`: the arguments and the contents of its ``inputs`` (files or
  folders; give it the migrations), else of the program it starts;
- Django's ``migrate``: every migration file of every installed app;
- any other callable: a ``fingerprint()`` method of its own when it has one (a string that changes
  whenever the schema would), else the source of its module and of the package that module is in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from race_harness.databases.creators import PREFIX
from race_harness.errors import UsageError

TEMPLATE_PREFIX = f"{PREFIX}template_"
# the harness's own tables in an application's database (a MySQL template's marker, a cell's
# receipts): never part of what a copy is reset to
OWN_TABLE_PREFIX = PREFIX
FINGERPRINT_CHARS = 16
# a version of how templates are made: bumped when a copy would differ, so old ones are not reused
FORMAT = "1"
ENV_SWITCH = "RACE_HARNESS_TEMPLATES"

__all__ = [
    "ENV_SWITCH",
    "FORMAT",
    "OWN_TABLE_PREFIX",
    "TEMPLATE_PREFIX",
    "SchemaTemplate",
    "fingerprint",
    "hash_paths",
    "template_name",
    "templates_enabled",
]


@dataclass(frozen=True)
class SchemaTemplate:
    """What a backend needs to make (or find) a template: its fingerprint, and how to build the
    schema in a database (the application's ``create``, with its errors already worded)."""

    fingerprint: str
    build: Callable[[URL], object]

    @property
    def name(self) -> str:
        return template_name(self.fingerprint)


def templates_enabled() -> bool:
    """Templates are on unless ``RACE_HARNESS_TEMPLATES`` says ``off`` (or ``0``, ``no``, ``false``):
    then every scratch database runs the application's ``create`` itself, as before templates."""
    value = os.environ.get(ENV_SWITCH, "on").strip().lower()
    if value in ("on", "1", "yes", "true", ""):
        return True
    if value in ("off", "0", "no", "false"):
        return False
    raise UsageError(f"{ENV_SWITCH}={os.environ[ENV_SWITCH]!r}: expected on or off")


def template_name(fingerprint: str) -> str:
    return f"{TEMPLATE_PREFIX}{fingerprint[:FINGERPRINT_CHARS]}"


def fingerprint(create: object) -> str | None:
    """A hash of what ``create`` runs: equal while the schema it makes stays the same. None when
    nothing says what it runs (a callable with no source file: typed at a prompt): no template then,
    the schema is made in every database, since a stale template would serve an old schema."""
    digest = hashlib.sha256(f"race-harness template {FORMAT}\n".encode())
    own = getattr(create, "fingerprint", None)
    if callable(own):
        digest.update(f"{type(create).__qualname__}\n{own()}".encode())
    else:
        sources = _callable_sources(create)
        if sources is None:
            return None
        digest.update(sources.encode())
    return digest.hexdigest()


def hash_paths(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A hash of the files at ``paths`` (folders: every file below, by relative path), skipping
    bytecode caches; a missing path hashes as missing, so creating it changes the hash."""
    digest = hashlib.sha256()
    for index, raw in enumerate(paths):
        root = Path(raw)
        # where the files are is not what they are: a checkout elsewhere makes the same schema
        digest.update(f"\0{index}\0".encode())
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for path in files:
                digest.update(f"{path.relative_to(root)}\0".encode())
                digest.update(path.read_bytes())
        elif root.is_file():
            digest.update(root.read_bytes())
        else:
            digest.update(b"missing")
    return digest.hexdigest()


def program_path(name: str) -> str | None:
    """Where a command's program is (for its fingerprint): a path as given, else found on PATH."""
    if os.sep in name:
        return name
    return shutil.which(name)


def _callable_sources(create: object) -> str | None:
    """A plain callable: its qualified name, and the source of its module's package (or its module
    alone, outside a package), which is where the schema it makes is usually declared."""
    target = inspect.unwrap(create) if callable(create) else create
    module_name = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", type(target).__qualname__)
    module = sys.modules.get(module_name)
    source = getattr(module, "__file__", None)
    if source is None or not Path(source).is_file():
        return None
    path = Path(source)
    top = module_name.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):  # a module loaded from a path (a scenario file) has no spec
        spec = None
    package = (
        Path(next(iter(spec.submodule_search_locations)))
        if spec is not None and spec.submodule_search_locations
        else None
    )
    root = package if package is not None and path.is_relative_to(package) else path
    return f"{module_name}.{qualname}\n{hash_paths([root])}"
