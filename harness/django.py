"""Django applications, driven unmodified: a model as the entity, its database alias pointed at the
scratch database, its schema made by its own migrations, its rows seeded by its own model classes.

Django opens its connections itself (psycopg 3 or psycopg2, mysqlclient, sqlite3), so the harness
sees its statements through the drivers' ``connect`` (:func:`race_harness.runner.app_steps.
watch_driver_connects`): operations are plain calls (``uses="app"``) into the application's views,
services or model methods. What this module adds is the set-up Django needs::

    from race_harness import Scenario, operation
    from race_harness import django as rh_django

    rh_django.setup("bookshop.settings")  # DJANGO_SETTINGS_MODULE and django.setup(), one line if it fails
    from bookshop import store
    from bookshop.models import Book, Tag

    BOOKS = rh_django.entity(
        Book, keys=[1], seed=lambda: [Book(id=1, title="t")], children=rh_django.children(Tag, key="name")
    )
    SCENARIO = Scenario("retitle", entity=BOOKS, configure=rh_django.configure(),
                        operations={"retitle": operation(store.retitle, uses="app", sets="title")})

- :func:`entity` mirrors the model's table (and a child model's) as SQLAlchemy tables for the
  harness's own reads; the schema is made by ``manage.py migrate`` on the alias (:class:`Migrate`).
- :func:`configure` points a ``DATABASES`` alias at the scratch database and :meth:`DjangoDatabase.
  restore` puts the alias back as it was (pytest-django's teardown then reaches its own test
  database again).
- Django re-raises a driver's error as its own ``django.db.utils.OperationalError`` and friends; the
  harness classifies it by the driver error it wraps (its ``__cause__``), as any database error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    Uuid,
    insert,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine

from race_harness.app_setup import forget_configuration
from race_harness.databases.templates import hash_paths
from race_harness.entity import Children, Entity
from race_harness.errors import UsageError

# Django's internal field type -> the SQLAlchemy type the harness reads the column as
_TYPES: dict[str, Callable[[Any], TypeEngine[Any]]] = {
    **dict.fromkeys(("AutoField", "IntegerField", "PositiveIntegerField"), lambda f: Integer()),
    **dict.fromkeys(("SmallAutoField", "SmallIntegerField", "PositiveSmallIntegerField"), lambda f: SmallInteger()),
    **dict.fromkeys(("BigAutoField", "BigIntegerField", "PositiveBigIntegerField"), lambda f: BigInteger()),
    **dict.fromkeys(
        ("CharField", "SlugField", "EmailField", "URLField", "FilePathField", "FileField", "ImageField"),
        lambda f: String(f.max_length),
    ),
    "TextField": lambda f: Text(),
    "BooleanField": lambda f: Boolean(),
    "DateTimeField": lambda f: DateTime(timezone=True),
    "DateField": lambda f: Date(),
    "TimeField": lambda f: Time(),
    "DecimalField": lambda f: Numeric(f.max_digits, f.decimal_places),
    "FloatField": lambda f: Float(),
    "JSONField": lambda f: JSON(),
    "UUIDField": lambda f: Uuid(),
}
# Django's database backend for each SQLAlchemy backend name
_ENGINES = {
    "postgresql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
    "sqlite": "django.db.backends.sqlite3",
}


def setup(settings_module: str | None = None) -> None:
    """``DJANGO_SETTINGS_MODULE`` (when given and the environment names none, as ``manage.py`` does)
    and ``django.setup()``, for a scenario module to call before it imports the application's models.
    Settings that cannot be loaded are one line."""
    try:
        import django
        from django.apps import apps
        from django.conf import settings
    except ImportError:
        raise UsageError("race_harness.django needs Django installed (pip install django)") from None
    if settings_module is not None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if apps.ready:
        return
    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings module: its failure is named here
        django.setup()
    except Exception as exc:
        name = os.environ.get("DJANGO_SETTINGS_MODULE", "<unset>")
        detail = " ".join(str(exc).split())[:200]
        raise UsageError(f"Django settings {name!r} could not be loaded: {type(exc).__name__}: {detail}") from None


def _metadata_for(model: type) -> MetaData:
    """One MetaData per Django app registry: a child model's foreign key finds its parent's table."""
    return _METADATA.setdefault(id(model._meta.apps), MetaData())  # type: ignore[attr-defined]


_METADATA: dict[int, MetaData] = {}


def table(model: type) -> Table:
    """The model's database table as a SQLAlchemy ``Table`` (concrete fields only), for the
    harness's reads; the schema itself is the application's migrations'."""
    meta = model._meta  # type: ignore[attr-defined]
    metadata = _metadata_for(model)
    if meta.db_table in metadata.tables:
        return metadata.tables[meta.db_table]
    columns = []
    for f in meta.concrete_fields:
        args: list[Any] = []
        typed = f  # the field whose type the column has: a foreign key's is its target's
        if f.is_relation:
            typed = f.target_field
            table(typed.model)  # the parent's table first: the foreign key resolves against it
            args.append(ForeignKey(f"{typed.model._meta.db_table}.{typed.column}"))
        kind = typed.get_internal_type()
        if f.is_relation:
            kind = kind.replace("AutoField", "IntegerField")  # the key's type, not a serial
        make = _TYPES.get(kind)
        sa_type = make(typed) if make is not None else None
        if sa_type is None:
            raise UsageError(
                f"field {meta.label}.{f.name} is a {kind}, which race_harness.django cannot read yet; expected "
                f"one of: {', '.join(sorted(_TYPES))}"
            )
        columns.append(Column(f.column, sa_type, *args, primary_key=f.primary_key, nullable=f.null))
    return Table(meta.db_table, metadata, *columns)


def children(
    model: type,
    key: str,
    value: str | None = None,
    parent: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> Children:
    """A child model (tags, metadata items) as the entity's child rows: ``key`` and ``value`` are field
    names of the model, ``parent`` its foreign key to the entity's model (needed only when it has
    several), ``where`` the field values a row has while it counts (soft delete)."""
    meta = model._meta  # type: ignore[attr-defined]
    return Children(
        table(model),
        key=_column(meta, key),
        value=_column(meta, value) if value is not None else None,
        parent=_column(meta, parent) if parent is not None else None,
        where={_column(meta, k): v for k, v in (where or {}).items()},
    )


def _column(meta: Any, name: str) -> str:
    try:
        return str(meta.get_field(name).column)
    except Exception:
        fields = ", ".join(f.name for f in meta.concrete_fields)
        raise UsageError(f"{meta.label} has no field {name!r}; expected one of: {fields}") from None


def entity(
    model: type,
    keys: Sequence[Any],
    seed: Callable[[], Iterable[Any]],
    children: Children | None = None,
    tokens: Sequence[str] = (),
    version: str | None = None,
    updated_at: str | None = None,
    alias: str = "default",
) -> Entity:
    """The model as a scenario's entity. ``seed()`` returns the rows as unsaved model instances
    (``Book(id=1, title="t")``: the model's own defaults and ``auto_now`` values apply); the harness
    inserts them in its transaction. The schema is ``migrate`` on ``alias``; ``tokens``, ``version``
    and ``updated_at`` are field names, as in :class:`race_harness.Entity`."""
    meta = model._meta  # type: ignore[attr-defined]
    parent = table(model)
    metadata = MetaData()  # the tables the harness empties and reads: the entity's and its children's
    parent.to_metadata(metadata)
    kids = children
    if children is not None:
        child = children.table
        assert isinstance(child, Table)
        child.to_metadata(metadata)
        kids = Children(metadata.tables[child.name], children.key, children.value, children.parent, children.where)
    return Entity(
        metadata.tables[parent.name],
        keys=keys,
        seed=seed_rows(seed),
        children=kids,
        tokens=[_column(meta, t) for t in tokens],
        version=_column(meta, version) if version is not None else None,
        updated_at=_column(meta, updated_at) if updated_at is not None else None,
        metadata=metadata,
        create=Migrate(alias),
    )


def seed_rows(rows: Callable[[], Iterable[Any]]) -> Callable[[Connection], None]:
    """An entity's seed that inserts the model instances ``rows()`` returns, in the harness's
    transaction: each field's value as Django would save it on an insert (``pre_save``: defaults,
    ``auto_now``)."""

    def seed(conn: Connection) -> None:
        for obj in rows():
            meta = obj._meta
            values = {f.column: f.pre_save(obj, True) for f in meta.concrete_fields}
            if values.get(meta.pk.column, 0) is None:
                del values[meta.pk.column]  # an AutoField left unset: the database numbers it
            conn.execute(insert(table(type(obj))), values)

    seed.__qualname__ = getattr(rows, "__qualname__", repr(rows))  # what list -v names as the seed
    return seed


def django_settings(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry for a SQLAlchemy URL (the scratch database's)."""
    u = make_url(url)
    engine = _ENGINES.get(u.get_backend_name())
    if engine is None:
        raise UsageError(f"Django has no backend for {u.get_backend_name()!r}; expected one of: {', '.join(_ENGINES)}")
    if engine.endswith("sqlite3"):
        return {"ENGINE": engine, "NAME": u.database or ":memory:"}
    host = u.host or ""
    if engine.endswith("mysql") and host == "localhost":
        host = "127.0.0.1"  # mysqlclient takes "localhost" for the Unix socket: TCP, as the URL means
    return {
        "ENGINE": engine,
        "NAME": u.database,
        "USER": u.username or "",
        "PASSWORD": u.password or "",
        "HOST": host,
        "PORT": str(u.port or ""),
    }


# settings keys the harness replaces; the others (CONN_MAX_AGE, ATOMIC_REQUESTS, TIME_ZONE ...) stay
_POINTED = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


# alias -> its settings as they were before the harness first pointed it elsewhere (one per process:
# the schema set-up and the scenario's configure point the same alias)
_SAVED: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class DjangoDatabase:
    """A scenario's ``configure``: points the ``DATABASES`` alias at the URL it is given (every thread
    opens its next connection there); :meth:`restore` puts the alias back as it was."""

    alias: str = "default"

    adapter = "race_harness.django"

    def __call__(self, url: str) -> None:
        setup()
        from django.db import connections

        try:
            entry = connections.settings[self.alias]
        except Exception:
            raise UsageError(
                f"Django's DATABASES has no alias {self.alias!r}; expected one of: {', '.join(connections.settings)}"
            ) from None
        _SAVED.setdefault(self.alias, {k: entry[k] for k in _POINTED if k in entry})
        _point(entry, {**django_settings(url), "OPTIONS": {}}, self.alias)
        _watch_connections()

    def restore(self) -> None:
        """The alias as it was before the harness first pointed it at a scratch database; its
        connections there closed (this thread's, and those other threads opened and left)."""
        saved = _SAVED.pop(self.alias, None)
        if saved is None:
            return
        from django.db import connections

        forget_configuration()  # the application points elsewhere now: the next run configures it again

        _point(connections.settings[self.alias], saved, self.alias)

    def __str__(self) -> str:
        import django

        return f"{self.adapter} (Django {django.get_version()}): DATABASES[{self.alias!r}] follows the scratch database"


def _point(entry: dict[str, Any], values: dict[str, Any], alias: str) -> None:
    """Replace the connection settings of ``entry`` (Django's own dict for ``alias``, so every new
    wrapper reads it) with ``values``, once the alias's open connections are closed."""
    close_connections(alias)
    for key in _POINTED:
        entry.pop(key, None)
    entry.update(values)


def configure(alias: str = "default") -> DjangoDatabase:
    """The ``configure`` of a scenario over a Django application: ``alias`` follows the scratch database."""
    return DjangoDatabase(alias)


@dataclass(frozen=True)
class Migrate:
    """The schema by the application's own migrations: ``migrate`` on the alias, pointed at the URL."""

    alias: str = "default"

    def __call__(self, url: str) -> None:
        from django.core.management import call_command

        DjangoDatabase(self.alias)(url)
        try:
            call_command("migrate", database=self.alias, interactive=False, verbosity=0)
        finally:
            close_connections(self.alias)

    def fingerprint(self) -> str:
        """Every migration file of every installed app (a template's key)."""
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(None, ignore_no_migrations=True)
        files = sorted(
            {str(getattr(sys.modules[type(m).__module__], "__file__", "")) for m in loader.disk_migrations.values()}
        )
        return f"{self.alias}\n{hash_paths(files)}"

    def __str__(self) -> str:
        return f"Django's migrate (DATABASES[{self.alias!r}])"


# every Django connection wrapper opened since the harness pointed an alias somewhere: a thread that
# made one and ended never closes it, and a scratch database is dropped only once they are closed
_OPENED: weakref.WeakSet[Any] = weakref.WeakSet()
_OPENED_LOCK = threading.Lock()
_watching = False


def _watch_connections() -> None:
    global _watching
    from django.db.backends.signals import connection_created

    with _OPENED_LOCK:
        if not _watching:
            connection_created.connect(_opened, weak=False, dispatch_uid="race_harness.django")
            _watching = True


def _opened(sender: Any, connection: Any, **kwargs: Any) -> None:
    with _OPENED_LOCK:
        _OPENED.add(connection)


def close_connections(alias: str) -> None:
    """Close every connection Django opened on ``alias``, in any thread, and forget this thread's."""
    from django.db import connections

    with _OPENED_LOCK:
        opened = [c for c in _OPENED if c.alias == alias]
    for wrapper in opened:
        with contextlib.suppress(Exception):
            # another thread's wrapper, idle now (its call ended): closing it from here is safe
            wrapper.inc_thread_sharing()
            wrapper.close()
            wrapper.dec_thread_sharing()
    with contextlib.suppress(Exception):
        connections[alias].close()
    with contextlib.suppress(Exception):
        del connections[alias]  # the next use builds a wrapper from the settings as they are now


__all__ = [
    "DjangoDatabase",
    "Migrate",
    "children",
    "close_connections",
    "configure",
    "django_settings",
    "entity",
    "seed_rows",
    "setup",
    "table",
]
