"""MySQL and MariaDB through PyMySQL.

SQLAlchemy's MySQL dialects connect with ``CLIENT.FOUND_ROWS``, so ``rowcount`` is the number of
rows an UPDATE matched, not changed; the OCC strategies depend on that (see
``harness.strategies.base.update_parent``).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from harness.databases.base import NAME_PREFIX, ScratchDatabase, ServerBackend, scratch_name

# server error codes that roll back the statement or transaction without applying it
_ABORTS = {
    1213: "deadlock",  # ER_LOCK_DEADLOCK: the whole transaction was rolled back
    1205: "lock-timeout",  # ER_LOCK_WAIT_TIMEOUT: the statement was rolled back; we roll back the rest
    1020: "serialization",  # MariaDB ER_CHECKREAD "Record has changed since last read" (snapshot isolation)
    1062: "integrity",  # ER_DUP_ENTRY
    1452: "integrity",  # ER_NO_REFERENCED_ROW_2
}


class MySQLBackend(ServerBackend):
    family = "mysql"

    def fetch_version(self) -> str:
        raw = str(self.admin_execute("SELECT VERSION()")[0][0])  # 10.11.19-MariaDB-0+deb12u1 / 8.0.39
        number = raw.split("-")[0]
        return f"mariadb {number}" if "mariadb" in raw.lower() else f"mysql {number}"

    def create_database(self) -> ScratchDatabase:
        name = scratch_name()
        self.admin_execute(f"CREATE DATABASE `{name}`")
        return ScratchDatabase(name, self.admin_url.set(database=name), self)

    def drop_database(self, name: str) -> None:
        self.admin_execute(f"DROP DATABASE IF EXISTS `{name}`")

    def leftover_databases(self) -> list[str]:
        pattern = NAME_PREFIX.replace("_", "\\_")  # "_" is a LIKE wildcard
        rows = self.admin_execute(f"SHOW DATABASES LIKE '{pattern}%'")
        return [r[0] for r in rows]

    def classify(self, exc: DBAPIError) -> str:
        args = getattr(exc.orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        return _ABORTS.get(code, "error") if code is not None else "error"
