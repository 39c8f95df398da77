"""``python -m benchmarks``: print race-harness's performance figures, each against a reference
measured in the same run. Figures, not pass/fail: nothing here fails on a slow machine."""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.common import BenchError, machine
from race_harness.errors import HarnessError

BENCHMARKS = ("driver", "first-loss", "matrix", "checker", "scale", "startup", "explore", "detection", "schema")
HELP = """\
benchmarks:
  driver      runner read-modify-write vs pgbench on the same PostgreSQL (ops/s, ratio)
  first-loss  time to Glance's lost update: stress run (median) and the named schedule
  matrix      wall time of the default matrix under the CLI and under pytest -n 2
  checker     checker ops/s on generated histories of 10^4..10^6 operations, growth per op
  scale       8, 64, 256 sessions on one hot row: ops/s, harness errors, harness CPU share
  startup     plugin cost in a pytest run, race-harness --help, one-schedule replay end to end
              (replay on --pg)
  detection   how often default stress runs catch naive application code losing updates (and never
              its fix), beside the bundled full-row strategy; the statement hooks' cost per call
              (on --db, and SQLite)
  schema      an application's migrations (tests/large_schema, 114 tables) paid once: 10 cells' set-up over
              one set-up, in a run that makes the schema template and in a later one that finds it
              (on --db, and SQLite)
  explore     race-harness explore vs frontrun 0.7.0 (installed for it alone) on the Glance, Nova and
              counter races on --pg: interleavings and wall time to the first counterexample

databases: --pg and --db take what race-harness run --db takes (postgres, mysql, a URL,
  embedded-postgres); postgres/mysql read $RACE_HARNESS_POSTGRES_URL / $RACE_HARNESS_MYSQL_URL.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="BENCHMARK", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="short runs and small sizes: a smoke run, not figures")
    parser.add_argument("--pg", default="postgres", metavar="DB", help="PostgreSQL for driver (default: postgres)")
    parser.add_argument(
        "--db",
        action="append",
        metavar="DB",
        help="database for first-loss and scale (repeatable; default: postgres and mysql)",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"error: unknown benchmark {unknown[0]!r}; expected one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    dbs: list[str] = args.db or ["postgres", "mysql"]
    runs: dict[str, Callable[[], None]] = {
        "driver": lambda: _import("driver").bench(args.pg, args.quick),
        "first-loss": lambda: _import("first_loss").bench(dbs, args.quick),
        "detection": lambda: _import("detection").bench([*dbs, "sqlite"], args.quick),
        "matrix": lambda: _import("matrix").bench(args.quick),
        "checker": lambda: _import("checker").bench(args.quick),
        "scale": lambda: _import("scale").bench(dbs, args.quick),
        "explore": lambda: _import("explore").bench(args.pg, args.quick),
        "startup": lambda: _import("startup").bench(args.pg, args.quick),
        "schema": lambda: _import("schema").bench([*dbs, "sqlite"], args.quick),
    }
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # sections show up as they finish, also when piped
    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    status = 0
    for name in args.names or BENCHMARKS:
        t0 = time.perf_counter()
        try:
            runs[name]()
        except (BenchError, HarnessError) as exc:
            print(f"   {name}: not measured: {exc}", file=sys.stderr)
            status = 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        print(f"   ({name}: {time.perf_counter() - t0:.0f} s)")
    return status


def _import(module: str) -> Any:
    """Benchmarks import their heavy dependencies (pytest, psycopg) only when chosen."""
    return importlib.import_module(f"benchmarks.{module}")


if __name__ == "__main__":
    sys.exit(main())
