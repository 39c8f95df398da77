"""The service's engine, made from its configuration at start-up (here: configure(url))."""

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(40), nullable=False),
    Column("body", String(40), nullable=False),
    Column("version", Integer, nullable=False),  # the ETag: bumped by every checked PATCH
)
_engine: dict[str, Engine] = {}


def configure(url: str) -> None:
    if "engine" in _engine:
        _engine["engine"].dispose()
    _engine["engine"] = create_engine(url, pool_size=8)


def engine() -> Engine:
    return _engine["engine"]
