"""OpenStack Glance bug 1371728: concurrent image updates clobber each other.

``PUT /v2/images/{id}`` loads the image into a domain object, changes some attributes, and the DB
layer writes ALL columns back and re-syncs the properties to the object's copy. Two requests that
change *different* attributes overwrite each other. Each writer session here owns one attribute and
one property, so any change that disappears was clobbered, never legitimately replaced.
"""

from __future__ import annotations

from race_harness.model import EntitySchema, FieldType, Intent, Value, kv_field
from race_harness.operations import WriteOp, WriterContext
from race_harness.scenario import NamedSchedule, Scenario

ATTRIBUTES: dict[str, FieldType] = {
    "name": "text",
    "status": "text",
    "visibility": "text",
    "disk_format": "text",
    "container_format": "text",
    "owner": "text",
    "checksum": "text",
    "os_distro": "text",
    "min_disk": "int",
    "min_ram": "int",
}
IMAGE_ID = 1


def _own_attribute(ctx: WriterContext) -> dict[str, Value]:
    names = list(ATTRIBUTES)
    attribute = names[ctx.session % len(names)]
    return {attribute: ctx.unique(ATTRIBUTES[attribute])}


def next_write(ctx: WriterContext) -> WriteOp:
    sets = _own_attribute(ctx)
    if ctx.seq % 2 == 1:  # every other request also sets this session's own image property
        sets[kv_field(f"prop_s{ctx.session}")] = ctx.unique()
    return WriteOp("image-update", IMAGE_ID, Intent(sets=sets))


# what one session of a schedule does (race-harness replay --schedule "B=set-property A.read ...")
def set_attribute(ctx: WriterContext) -> WriteOp:
    return WriteOp("image-update", IMAGE_ID, Intent(sets=_own_attribute(ctx)))


def set_property(ctx: WriterContext) -> WriteOp:
    sets = {**_own_attribute(ctx), kv_field(f"prop_s{ctx.session}"): ctx.unique()}
    return WriteOp("image-update", IMAGE_ID, Intent(sets=sets))


def rename(ctx: WriterContext) -> WriteOp:
    """Every session sets the same attribute: a later rename legitimately replaces an earlier one."""
    return WriteOp("image-rename", IMAGE_ID, Intent(sets={"name": ctx.unique()}))


SCENARIO = Scenario(
    name="glance_image_update",
    summary="Glance 1371728: image update writes every column it loaded; different attributes clobber",
    schema=EntitySchema("images", ATTRIBUTES, has_children=True),
    initial={
        IMAGE_ID: {
            "name": "cirros",
            "status": "active",
            "visibility": "private",
            "disk_format": "qcow2",
            "container_format": "bare",
            "owner": "demo",
            "checksum": "0",
            "os_distro": "cirros",
            "min_disk": 0,
            "min_ram": 0,
            kv_field("architecture"): "x86_64",
            kv_field("hw_disk_bus"): "virtio",
        }
    },
    next_write=next_write,
    bug="clobbered-field",  # what each strategy declares against this kind is what is expected of it
    operations={"set-attribute": set_attribute, "set-property": set_property, "rename": rename},
    schedules={
        "clobbered-attribute": NamedSchedule(
            "A.read B.read A.write B.write",
            "full-row",
            "A sets name, B sets status; B read before A wrote and writes every column back, so A's name is lost",
        )
    },
)
