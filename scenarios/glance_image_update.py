"""OpenStack Glance bug 1371728: concurrent image updates clobber each other.

``PUT /v2/images/{id}`` loads the image into a domain object, changes some attributes, and the DB
layer writes ALL columns back and re-syncs the properties to the object's copy. Two requests that
change *different* attributes overwrite each other. Each writer session here owns one attribute and
one property, so any change that disappears was clobbered, never legitimately replaced.
"""

from __future__ import annotations

from harness.model import EntitySchema, FieldType, Intent, kv_field
from harness.scenario import Scenario, WriteOp, WriterContext

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


def next_write(ctx: WriterContext) -> WriteOp:
    names = list(ATTRIBUTES)
    attribute = names[ctx.session % len(names)]
    sets = {attribute: ctx.unique(ATTRIBUTES[attribute])}
    if ctx.seq % 2 == 1:  # every other request also sets this session's own image property
        sets[kv_field(f"prop_s{ctx.session}")] = ctx.unique()
    return WriteOp("image-update", IMAGE_ID, Intent(sets=sets))


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
    expected={
        "full-row": "lost",
        "partial-update": "none",
        "timestamp-occ:0": "lost",
        "timestamp-occ:6": "none",
        "version-occ": "none",
        "select-for-update": "none",
        "atomic-update": "none",
        "serializable-retry": "none",
        "compare-and-swap": "none",
        "orm-version-counter": "none",
        "process-lock": "none",  # with --processes: lost
    },
)
