"""Database URLs: parse, normalise the driver, and mask passwords in anything shown to a person."""

from __future__ import annotations

import importlib.util

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from race_harness.errors import UsageError, mask_url

__all__ = ["DRIVERS", "mask_url", "parse_server_url", "render"]

# drivers the harness ships and tests with: a URL's scheme -> SQLAlchemy's driver name. PyMySQL comes
# with the package; mysqlclient (MySQLdb, Django's MySQL driver and the faster one) is the
# `mysqlclient` extra, since it compiles against the client library (Debian: libmariadb-dev)
DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mysql+mysqldb": "mysql+mysqldb",
    "mariadb": "mariadb+pymysql",
    "mariadb+pymysql": "mariadb+pymysql",
    "mariadb+mysqldb": "mariadb+mysqldb",
}
# the import name of each optional driver, and where it comes from
OPTIONAL_DRIVERS = {
    "mysqldb": ("MySQLdb", "pip install 'race-harness[mysqlclient]' (it builds with libmariadb-dev and pkg-config)")
}


def render(url: URL) -> str:
    """A URL to show: the password hidden, and one given as a query parameter too."""
    return mask_url(url.render_as_string(hide_password=True))


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
        schemes = ", ".join(k for k in DRIVERS if k != "postgres")
        raise UsageError(f"unsupported database URL scheme {url.drivername!r} in {shown!r}; expected one of: {schemes}")
    module, install = OPTIONAL_DRIVERS.get(driver.partition("+")[2], (None, ""))
    if module is not None and importlib.util.find_spec(module) is None:
        raise UsageError(f"the database URL {shown!r} names the driver {module}, which is not installed: {install}")
    if url.host and "@" in url.host:
        # SQLAlchemy split the userinfo at its first "@": the rest of the password would reach the
        # driver as a host name, and its error message would print it
        raise UsageError(
            f"malformed database URL {shown!r}: its password holds an unescaped '@'; "
            "expected it percent-encoded (%40 for @, %3A for :, %2F for /)"
        )
    try:
        _ = url.port  # SQLAlchemy parses the port lazily; a non-numeric port fails here
    except ValueError:
        raise UsageError(f"malformed database URL {shown!r}: the port is not a number") from None
    if not url.host and "host" not in url.query and not url.query.get("unix_socket"):
        raise UsageError(f"expected a host in the database URL but got {shown!r}")
    return url.set(drivername=driver)
