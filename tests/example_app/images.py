"""A small application data layer, the kind of code race-harness users test: an image catalog.

It knows nothing about race-harness; it works on the tables of the ``glance_image_update``
scenario (``images`` and its ``images_kv`` properties), as a real application would on its own.

- :func:`save_image` is Glance's bug: it writes back every column and re-syncs the properties of the
  object it loaded earlier.
- :func:`update_image` writes only what changed, guarded by the version the caller read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text


@dataclass
class Image:
    id: int
    attributes: dict[str, object]
    properties: dict[str, object] = field(default_factory=dict)
    version: int = 1


def _key(conn: Connection) -> str:
    return conn.dialect.identifier_preparer.quote("key")  # KEY is a reserved word in MySQL


def save_image(conn: Connection, image: Image) -> None:
    """Write the whole loaded object back (Glance 1371728)."""
    key_ = _key(conn)
    columns = ", ".join(f"{name} = :{name}" for name in image.attributes)
    conn.execute(text(f"UPDATE images SET {columns} WHERE id = :id"), {**image.attributes, "id": image.id})
    stored = dict(
        conn.execute(text(f"SELECT {key_}, value FROM images_kv WHERE entity_id = :id"), {"id": image.id}).all()
    )
    for key in stored.keys() - image.properties.keys():
        conn.execute(text(f"DELETE FROM images_kv WHERE entity_id = :id AND {key_} = :k"), {"id": image.id, "k": key})
    for key, value in image.properties.items():
        if key not in stored:
            conn.execute(
                text(f"INSERT INTO images_kv (entity_id, {key_}, value) VALUES (:id, :k, :v)"),
                {"id": image.id, "k": key, "v": value},
            )
        elif stored[key] != value:
            conn.execute(
                text(f"UPDATE images_kv SET value = :v WHERE entity_id = :id AND {key_} = :k"),
                {"id": image.id, "k": key, "v": value},
            )


def update_image(
    conn: Connection, image_id: int, changes: dict[str, object], properties: dict[str, object], seen_version: int
) -> bool:
    """Write only ``changes`` and ``properties``, if nobody saved the image since ``seen_version``."""
    key_ = _key(conn)
    columns = "".join(f", {name} = :{name}" for name in changes)
    matched = conn.execute(
        text(f"UPDATE images SET version = version + 1{columns} WHERE id = :id AND version = :seen"),
        {**changes, "id": image_id, "seen": seen_version},
    ).rowcount
    if matched == 0:
        return False
    for key, value in properties.items():
        params = {"id": image_id, "k": key, "v": value}
        if (
            conn.execute(
                text(f"UPDATE images_kv SET value = :v WHERE entity_id = :id AND {key_} = :k"), params
            ).rowcount
            == 0
        ):
            conn.execute(text(f"INSERT INTO images_kv (entity_id, {key_}, value) VALUES (:id, :k, :v)"), params)
    return True
