"""OpenStack Nova bug 1650188: server metadata keys vanish under concurrent updates.

The API layer computes the target metadata from a read that may be stale: ``update`` merges the
request's keys into what it read, ``update_all`` replaces everything with the request's keys. The
DB layer then diffs the target against the rows it finds and DELETES keys missing from the target,
so a key another request added in between is gone.

Parameter ``update_all_ratio`` (default 0): the share of writes that are ``update_all``. The
verdict table is for ``update`` only, with distinct keys; with ``update_all`` some removals are
legitimate, and the checker accepts a removal only from a request that could follow the write.
"""

from __future__ import annotations

from race_harness.model import EntitySchema, FieldType, Intent, kv_field
from race_harness.operations import WriteOp, WriterContext
from race_harness.scenario import NamedSchedule, Scenario

ATTRIBUTES: dict[str, FieldType] = {
    "display_name": "text",
    "vm_state": "text",
    "task_state": "text",
    "host": "text",
}
INSTANCE_ID = 1


def next_write(ctx: WriterContext) -> WriteOp:
    key = kv_field(f"s{ctx.session}-{ctx.seq}")  # a new key per request: two requests add different keys
    if ctx.rng.random() < ctx.params["update_all_ratio"]:
        return WriteOp("update_all", INSTANCE_ID, Intent(sets={key: ctx.unique()}, replace_children=True))
    return WriteOp("update", INSTANCE_ID, Intent(sets={key: ctx.unique()}))


# what one session of a schedule does (race-harness replay --schedule "B=update_all A.read ...")
def update(ctx: WriterContext) -> WriteOp:
    return WriteOp("update", INSTANCE_ID, Intent(sets={kv_field(f"s{ctx.session}"): ctx.unique()}))


def update_all(ctx: WriterContext) -> WriteOp:
    """Replace all metadata with this session's key: removing the others is what it asks for."""
    return WriteOp(
        "update_all", INSTANCE_ID, Intent(sets={kv_field(f"s{ctx.session}"): ctx.unique()}, replace_children=True)
    )


def update_role(ctx: WriterContext) -> WriteOp:
    """Change a key that exists from the start: every session writes the same key."""
    return WriteOp("update", INSTANCE_ID, Intent(sets={kv_field("role"): ctx.unique()}))


SCENARIO = Scenario(
    name="nova_server_metadata",
    summary="Nova 1650188: metadata update from a stale read; the DB diff deletes a concurrently added key",
    schema=EntitySchema("instances", ATTRIBUTES, has_children=True),
    initial={
        INSTANCE_ID: {
            "display_name": "vm-1",
            "vm_state": "active",
            "task_state": "none",
            "host": "compute-1",
            kv_field("role"): "web",
            kv_field("tier"): "frontend",
        }
    },
    next_write=next_write,
    bug="clobbered-field",  # what each strategy declares against this kind is what is expected of it
    params={"update_all_ratio": 0.0},
    operations={"update": update, "update_all": update_all, "update-role": update_role},
    schedules={
        "deleted-key": NamedSchedule(
            "A.read B.read A.write B.write",
            "full-row",
            "A adds key s0, B adds key s1 from a read without s0; B's DB-layer diff deletes s0",
        )
    },
)
