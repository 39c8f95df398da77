"""Database URLs: parse, normalise the driver, and mask passwords in anything shown to a person."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from race_harness.errors import UsageError, mask_url

__all__ = ["DRIVERS", "mask_url", "parse_server_url", "render"]

# drivers the harness ships and tests with
DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "mariadb+pymysql": "mariadb+pymysql",
}


def render(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def parse_server_url(text: str) -> URL:
    """A PostgreSQL or MySQL/MariaDB server URL, with the driver the harness uses."""
    shown = mask_url(text)
    if "://" not in text:
        raise UsageError(
            f"expected a database URL like postgresql://user@host:5432/db or mysql://root@host:3306/db "
            f"but got {shown!r}"
        )
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"malformed database URL {shown!r}: {mask_url(str(exc))}") from None
    driver = DRIVERS.get(url.drivername)
    if driver is None:
        raise UsageError(
            f"unsupported database URL scheme {url.drivername!r} in {shown!r}; expected one of: "
            f"postgresql, postgresql+psycopg, mysql, mysql+pymysql, mariadb, mariadb+pymysql"
        )
    try:
        _ = url.port  # SQLAlchemy parses the port lazily; a non-numeric port fails here
    except ValueError:
        raise UsageError(f"malformed database URL {shown!r}: the port is not a number") from None
    if not url.host and "host" not in url.query and not url.query.get("unix_socket"):
        raise UsageError(f"expected a host in the database URL but got {shown!r}")
    return url.set(drivername=driver)
