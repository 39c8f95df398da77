"""Nova 1650188 as Core code: the metadata update builds its target from a stale read and deletes
the keys missing from it.

The API request reads the instance's metadata (its own transaction), adds one key to that copy and
hands the whole target to the DB layer, which, in a transaction of its own, deletes every key the
target lacks and writes the rest (Nova's ``_instance_metadata_update_in_place``). A key another
request added in between is not in the target: deleted, lost. ``FIXED`` writes only the key it adds.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Connection, ForeignKey, Integer, MetaData, String, Table, delete, insert, select, update

from race_harness import Children, Entity, Scenario, operation
from race_harness.defaults import Expectation

METADATA = MetaData()
INSTANCES = Table("nova_instances", METADATA, Column("uuid", String(36), primary_key=True))
INSTANCE_METADATA = Table(
    "nova_instance_metadata",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_uuid", String(36), ForeignKey("nova_instances.uuid"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", String(255)),
)
INSTANCE = "inst-0001"


def metadata_get(conn: Connection, uuid: str) -> dict[str, str | None]:
    """The instance's metadata, read in a transaction of its own (the API layer's copy)."""
    rows = conn.execute(
        select(INSTANCE_METADATA.c.key, INSTANCE_METADATA.c.value).where(INSTANCE_METADATA.c.instance_uuid == uuid)
    ).all()
    conn.commit()
    return {key: value for key, value in rows}


def metadata_update(conn: Connection, uuid: str, target: dict[str, str | None]) -> None:
    """The DB layer: make the stored metadata exactly ``target`` (keys it lacks are deleted)."""
    md = INSTANCE_METADATA
    current = dict(conn.execute(select(md.c.key, md.c.value).where(md.c.instance_uuid == uuid)).all())
    gone = [key for key in current if key not in target]
    if gone:
        conn.execute(delete(md).where(md.c.instance_uuid == uuid, md.c.key.in_(gone)))
    for key, value in target.items():
        if key not in current:
            conn.execute(insert(md).values(instance_uuid=uuid, key=key, value=value))
        elif current[key] != value:
            conn.execute(update(md).where(md.c.instance_uuid == uuid, md.c.key == key).values(value=value))
    conn.commit()


def add_key(conn: Connection, uuid: str, key: str, value: str) -> None:
    """``update_instance_metadata(delete=False)`` as Nova had it: the target is the stale copy plus one key."""
    target = metadata_get(conn, uuid)
    target[key] = value
    metadata_update(conn, uuid, target)


def add_key_fixed(conn: Connection, uuid: str, key: str, value: str) -> None:
    """The fix: only the key being added is written; keys nobody asked to delete stay."""
    metadata_get(conn, uuid)  # the request still reads (to show the result), but writes no copy back
    md = INSTANCE_METADATA
    conn.execute(insert(md).values(instance_uuid=uuid, key=key, value=value))
    conn.commit()


def _seed(conn: Connection) -> None:
    conn.execute(insert(INSTANCES).values(uuid=INSTANCE))
    conn.execute(insert(INSTANCE_METADATA).values(instance_uuid=INSTANCE, key="role", value="web"))


def _scenario(name: str, expected: Expectation, function: Callable[..., None], summary: str) -> Scenario:
    return Scenario(
        name,
        entity=Entity(
            INSTANCES,
            keys=[INSTANCE],
            seed=_seed,
            children=Children(INSTANCE_METADATA, key="key", value="value", parent="instance_uuid"),
        ),
        operations={"add_key": operation(function, uses="connection", adds_child="key", child_value="value")},
        summary=summary,
        expected={"app": expected},
    )


SCENARIO = _scenario("nova_core", "lost", add_key, "Nova 1650188 as Core code: a stale target deletes a concurrent key")
FIXED = _scenario("nova_core_fixed", "none", add_key_fixed, "the same request writing only the key it adds")
