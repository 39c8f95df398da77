"""Glance 1371728 as ORM code: an image read, one attribute set, the whole object saved back.

As in Glance, the read and the save are separate database transactions (``image_repo.get`` and
``image_repo.save``): the request works on a detached object, and the save merges it into the
session, which copies every attribute it loaded onto the current row. A concurrent request's change
to another attribute is written back to the value this request read: lost. ``FIXED`` maps a version
counter (``version_id_col``): the merge of a stale object raises ``StaleDataError``, a refusal.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from race_harness import Entity, Scenario, operation
from race_harness.defaults import Expectation


class Base(DeclarativeBase):
    pass


class Image(Base):
    __tablename__ = "glance_images"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))


class VersionedImage(Base):
    __tablename__ = "glance_images_versioned"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative form


IMAGE_ID = "4b6c1a1e-0000-4000-8000-000000000001"


def image_get(session: Session, model: type[Image | VersionedImage], image_id: str) -> Image | VersionedImage:
    """The repository's get: one transaction; the object leaves the session fully loaded."""
    image: Image | VersionedImage | None = session.get(model, image_id)  # type: ignore[assignment]
    assert image is not None, image_id
    session.expunge(image)
    session.commit()
    return image


def image_save(session: Session, image: Image | VersionedImage) -> None:
    """The repository's save: the domain object merged back, every loaded column copied onto the row."""
    session.merge(image)
    session.commit()


def _update_image(model: type[Image | VersionedImage]) -> Callable[..., None]:
    def update_image(session: Session, image_id: str, **changes: str) -> None:
        """The API's image update (Glance's ``image_repo.get``, set attributes, ``image_repo.save``)."""
        image = image_get(session, model, image_id)
        for attribute, value in changes.items():
            setattr(image, attribute, value)
        image_save(session, image)

    return update_image


def _seed(model: type[Image | VersionedImage]) -> Callable[[Connection], None]:
    def seed(conn: Connection) -> None:
        with Session(bind=conn) as session:
            extra = {"version": 1} if model is VersionedImage else {}
            session.add(model(id=IMAGE_ID, name="cirros", status="queued", **extra))
            session.flush()

    return seed


def _scenario(name: str, expected: Expectation, model: type[Image | VersionedImage], summary: str) -> Scenario:
    return Scenario(
        name,
        entity=Entity(model, keys=[IMAGE_ID], seed=_seed(model), tokens=["version"] if model is VersionedImage else ()),
        operations={
            "rename": operation(_update_image(model), uses="session", sets="name"),
            "set_status": operation(_update_image(model), uses="session", sets="status"),
        },
        summary=summary,
        expected={"app": expected},
    )


SCENARIO = _scenario("glance_orm", "lost", Image, "Glance 1371728 as ORM code: merge writes back every loaded column")
FIXED = _scenario(
    "glance_orm_fixed", "none", VersionedImage, "the same requests with a version counter (version_id_col)"
)
