"""The names and defaults a user sees before any work starts (``--help``, option choices).

Kept free of heavy imports (no SQLAlchemy, NumPy, drivers) so that ``race-harness --help`` and the
pytest plugin's load cost next to nothing; the modules that use these values import them from here.
"""

from __future__ import annotations

from typing import Literal

Isolation = Literal["read-committed", "repeatable-read", "serializable"]
Scope = Literal["separate", "single"]
ISOLATIONS: tuple[Isolation, ...] = ("read-committed", "repeatable-read", "serializable")
SCOPES: tuple[Scope, ...] = ("separate", "single")

# What `race-harness run` compares when no --strategy is given: the seed bugs' strategies and fixes.
DEFAULT_SPECS = ("full-row", "partial-update", "timestamp-occ:0", "timestamp-occ:6", "version-occ")
# the further fixes users compare (race-harness run -S all, or name them)
MORE_SPECS = (
    "select-for-update",
    "atomic-update",
    "serializable-retry",
    "compare-and-swap",
    "orm-version-counter",
    "process-lock",
)
ALL_SPECS = DEFAULT_SPECS + MORE_SPECS

DEFAULT_STEP_TIMEOUT_S = 10.0  # last resort for a step neither done nor seen waiting in the lock view

LOCK_TIMEOUT_S = 30  # PostgreSQL sessions give up a lock wait after this long (lock_timeout)

DEFAULT_DBS = ("embedded",)
ENV_URLS = {"postgres": "RACE_HARNESS_POSTGRES_URL", "mysql": "RACE_HARNESS_MYSQL_URL"}
# `--db postgres` / `--db mysql` without the variable: the local server, when it answers
LOCAL_URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}

# the faults the harness's TCP proxy (runner/proxy.py) makes: drop, hang, delay
NETWORK_FAULTS = frozenset({"partition", "hang", "latency"})
