"""The application: an account service on the large schema, configured once per process.

``rename`` and ``change_email`` read the whole account and write every column back (the Glance
pattern: ``LOST``); the fixed ones write only the column they change (``FIXED``). The schema comes
from the application's own Alembic migrations (``Entity(create=MIGRATIONS)``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)

from race_harness import Alembic, Entity, Scenario, operation
from race_harness.defaults import Expectation

MIGRATIONS = Alembic(script_location=str(Path(__file__).parent / "migrations"))
MD = MetaData()
CURRENCIES = Table("currencies", MD, Column("code", String(3), primary_key=True), Column("name", String(40)))
ACCOUNTS = Table(
    "accounts",
    MD,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(80), nullable=False),
    Column("email", String(120), nullable=False),
    Column("currency", String(3), ForeignKey("currencies.code"), nullable=False),
)
_FACTORY: dict[str, Engine] = {}


class AlreadyStartedError(Exception):
    pass


def configure(url: str) -> None:
    """Once per process, as oslo.db's enginefacade: a second call raises."""
    if _FACTORY:
        raise AlreadyStartedError("this TransactionFactory is already started")
    _FACTORY["engine"] = create_engine(url, pool_size=8)


def _read(account: int) -> dict[str, Any]:
    with _FACTORY["engine"].begin() as conn:
        query = select(ACCOUNTS.c.owner, ACCOUNTS.c.email, ACCOUNTS.c.currency).where(ACCOUNTS.c.id == account)
        return dict(conn.execute(query).mappings().one())


def _store(account: int, values: dict[str, Any]) -> None:
    with _FACTORY["engine"].begin() as conn:
        conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == account).values(**values))


def rename(account: int, owner: str) -> None:
    _store(account, {**_read(account), "owner": owner})


def change_email(account: int, email: str) -> None:
    _store(account, {**_read(account), "email": email})


def rename_fixed(account: int, owner: str) -> None:
    _read(account)
    _store(account, {"owner": owner})


def change_email_fixed(account: int, email: str) -> None:
    _read(account)
    _store(account, {"email": email})


def _seed(conn: Any) -> None:
    # the currencies are the data migration's: the seed finds them there, in every copy
    conn.execute(insert(ACCOUNTS).values(id=1, owner="o", email="e", currency="EUR"))


ENTITY = Entity(ACCOUNTS, keys=[1], seed=_seed, create=MIGRATIONS)


def _scenario(name: str, expected: Expectation, owner: Callable[..., None], email: Callable[..., None]) -> Scenario:
    operations = {
        "rename": operation(owner, uses="app", sets="owner"),
        "change_email": operation(email, uses="app", sets="email"),
    }
    return Scenario(name, entity=ENTITY, configure=configure, operations=operations, expected={"app": expected})


LOST = _scenario("ledger_accounts", "lost", rename, change_email)
FIXED = _scenario("ledger_accounts_fixed", "none", rename_fixed, change_email_fixed)


def _broken_seed(conn: Any) -> None:
    raise RuntimeError("no such account")


# a scenario of the same application whose seed fails: the run ends with exit 2 after the cells before it
BROKEN = Scenario(
    "ledger_broken_seed",
    entity=Entity(ACCOUNTS, keys=[1], seed=_broken_seed, create=MIGRATIONS),
    configure=configure,
    operations=LOST.operations,
    expected={"app": "lost"},
)
