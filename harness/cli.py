"""``race-harness``: run scenarios x strategies x databases and say, with evidence, what was lost.

Exit codes: 0 every strategy the scenarios declare safe lost nothing, with contention; 1 one of them
lost an update (``p4``: the plain read-modify-write disagrees with Hermitage); 2 bad input or an
unusable database (one line on stderr, no traceback); 3 one of them proved nothing (inconclusive:
no contention, a harness error, an undecided count), which is never a pass; 128 + the signal's
number when interrupted by SIGINT, SIGTERM or SIGHUP (130, 143, 129); 141 the output's reader went away.

Only light modules are imported here: each command imports what it needs when it runs, so that
``--help``, ``--version`` and bad input answer at once (``python -m benchmarks startup``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from race_harness import collector
from race_harness.cli_parser import build_parser
from race_harness.defaults import (
    DATABASES,
    DEFAULT_DBS,
    DEFAULT_SPECS,
    ENV_URLS,
    LOCAL_URLS,
)
from race_harness.errors import (
    EXIT_CRASH,
    EXIT_INCONCLUSIVE,
    EXIT_LOST,
    EXIT_NOT_REPRODUCED,
    EXIT_USAGE,
    HarnessError,
    UsageError,
    mask_url,
    positive_int,
    shown,
)
from race_harness.tally import NO_CONTENTION

if TYPE_CHECKING:
    from race_harness.databases.base import Backend
    from race_harness.matrix import CellResult
    from race_harness.p4 import P4Cell
    from race_harness.runner import RunConfig
    from race_harness.runner.schedule import ScheduleResult
    from race_harness.scenario import NamedSchedule, Scenario
    from race_harness.strategies import Strategy


MAX_REPEAT = 100_000  # a schedule's replays: each is a few statements, so this is hours, not a typo's years
MAX_INTERLEAVINGS = 10_000_000


def _params(items: Sequence[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            if not value.isascii():
                raise ValueError
            number = float(value)
        except ValueError:
            raise UsageError(f"expected --param NAME=NUMBER but got {shown(item)}") from None
        if not math.isfinite(number) or (name.endswith("_ratio") and not 0 <= number <= 1):
            expected = "a ratio from 0 to 1" if name.endswith("_ratio") else "a finite number"
            raise UsageError(f"expected {expected} but got --param {name}={value}")
        out[name] = number
    return out


def _all_specs() -> tuple[str, ...]:
    from race_harness.strategies.registry import all_specs

    return all_specs()


def _strategy_specs(given: Sequence[str] | None, scenarios: Sequence[Scenario] = ()) -> list[str]:
    """``all`` stands for every built-in configuration; order is kept, duplicates dropped. Without
    ``-S``, an application scenario runs ``app`` (its own code is its strategy); the built-ins run
    only when a bundled scenario is selected too."""
    apps = [s.is_app for s in scenarios]
    default = (("app",) if any(apps) else ()) + (DEFAULT_SPECS if not all(apps) or not apps else ())
    specs: list[str] = []
    for spec in given or default:
        for s in _all_specs() if spec == "all" else (spec,):
            if s not in specs:
                specs.append(s)
    return specs


def _start(backends: Sequence[Backend]) -> None:
    """Start (reach) every database, and drop what runs that ended without cleaning up left there."""
    from race_harness.report.text import note

    for b in backends:
        b.start()
        dropped, _ = b.sweep()
        if dropped:
            note(
                f"race-harness: dropped {len(dropped)} scratch database(s) on {b.label} whose creators ended "
                f"without cleaning up: {', '.join(dropped)}"
            )
    collector.resume()  # the command has what it imports; its work is collected as usual


def cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rich.console import Console

    from race_harness.databases import resolve_all
    from race_harness.matrix import run_matrix
    from race_harness.report import new_run_dir, write_results
    from race_harness.report.terminal import CellProgress
    from race_harness.report.text import wrap
    from race_harness.runner.nemesis import check_faults
    from race_harness.strategies import get_strategy
    from race_harness.tally import tally

    base, configs = _run_configs(args)
    scenarios = _selected_scenarios(args)
    strategies = [get_strategy(spec) for spec in _strategy_specs(args.strategy, scenarios)]
    backends = resolve_all(args.db or list(DEFAULT_DBS))
    for b in backends:
        b.lock_timeout_s = base.lock_timeout
    _check_outputs(args)  # before the work, not after it
    try:
        _start(backends)  # fail fast, before any cell runs, on an unreachable database
        check_faults(base.nemesis, base.nemesis_interval, backends)  # a fault a database cannot take: now
        specs = {b.label: b.spec for b in backends}  # label -> the --db value that selects it again
        total = len(backends) * len(configs) * len(scenarios) * len(strategies)
        finished: list[CellResult] = []
        with CellProgress(total, quiet=args.quiet, console=Console(stderr=True)) as shown:

            def progress(i: int, total: int, name: str, cell: CellResult | None) -> None:
                shown(i, total, name, cell)
                if cell is not None:
                    finished.append(cell)

            try:
                cells = run_matrix(scenarios, strategies, backends, configs, progress)
            except (KeyboardInterrupt, HarnessError):  # interrupted, or a database stopped answering
                shown.end_line()  # the interrupted cell's progress line, ended before the messages
                _write_partial(args.report_dir, finished, total, backends, configs)
                raise
        results, unwritten = _write(
            lambda: write_results(new_run_dir(args.report_dir), cells, backends, configs, sys.argv)
        )
    finally:
        _close(backends)
    width = _print_cells(cells, results, unwritten, args.legend)
    by_name = {s.name: s for s in scenarios}
    by_spec = {s.spec: s for s in strategies}

    def reproduce(c: CellResult) -> list[str]:
        config = replace(base, isolation=c.requested[0], scope=c.requested[1])  # type: ignore[arg-type]
        return _reproduce(by_name[c.scenario], by_spec[c.strategy], specs[c.database], config, c)

    _print_findings(cells, reproduce, width)
    standings = tally(c.judged for c in cells)
    if args.junit_xml and not unwritten:
        _, unwritten = _write(lambda: _junit_run(args.junit_xml, cells, specs, reproduce, standings.text()))
    if unwritten:
        print(f"race-harness: error: the results could not be written: {unwritten}", file=sys.stderr)
    sys.stderr.flush()
    print("\n" + "\n".join(wrap(line, width, indent="    ") for line in standings.lines()), flush=True)
    if code := standings.exit_code():
        return code
    if cells and all(c.result is None for c in cells):  # every cell n/a: nothing was tested, not a pass
        reasons = sorted({c.not_run for c in cells if c.not_run})
        print(f"race-harness: error: nothing ran: every cell is n/a ({'; '.join(reasons)[:300]})", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE if unwritten else 0


def _run_configs(args: argparse.Namespace) -> tuple[RunConfig, list[RunConfig]]:
    """``run``'s configuration, and one per column it asks for (isolation x scope)."""
    from dataclasses import replace

    from race_harness.runner import RunConfig

    base = RunConfig(
        writers=args.writers,
        readers=args.readers,
        ops=args.ops,
        duration=args.duration,
        think_ms=args.think_ms,
        seed=args.seed,
        on_conflict=args.on_conflict,
        max_attempts=args.max_attempts,
        processes=args.processes,
        nemesis=tuple(f.strip() for spec in args.nemesis or [] for f in spec.split(",") if f.strip()),
        nemesis_interval=args.nemesis_interval,
        stall_timeout=args.stall_timeout,
        lock_timeout=args.lock_timeout,
    )
    configs = [
        replace(base, isolation=isolation, scope=scope)
        for isolation in (args.isolation or [None])
        for scope in (args.scope or ["separate"])
    ]
    return base, configs


def _selected_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios ``run`` names, with the ``--param`` values each one takes."""
    from race_harness.scenario import get_scenario, scenario_names

    params = _params(args.param)
    scenarios = [get_scenario(n) for n in (args.scenario or scenario_names())]
    for name in params:
        if not any(name in s.params for s in scenarios):
            raise UsageError(
                f"no selected scenario has a parameter {name!r}; "
                f"parameters: {', '.join(sorted({p for s in scenarios for p in s.params})) or 'none'}"
            )
    return [s.with_params({k: v for k, v in params.items() if k in s.params}) for s in scenarios]


def _print_cells(cells: list[CellResult], results: Path | None, unwritten: str | None, legend: bool) -> int:
    """The table, its legend, the cells not run and the evidence; the width the output is wrapped to."""
    from rich.console import Console

    from race_harness.report import format_evidence, format_legend, format_not_run, format_table
    from race_harness.report.terminal import print_rich_table
    from race_harness.report.text import plain_width

    out = Console()
    width = out.width if out.is_terminal else plain_width()  # plain text for logs and pipes: 120 or $COLUMNS
    if out.is_terminal:
        print_rich_table(cells, out)
    else:
        print(format_table(cells, width))
    print()
    print(format_legend(cells, width, full=legend))
    not_run = format_not_run(cells, width)
    if not_run:
        print("\n" + not_run)
    evidence = format_evidence(cells, width=width)
    if evidence:
        print("\nexample evidence:\n" + evidence)
    print(f"\nresults: {results}" if results else f"\nresults: NOT written: {unwritten}")
    return width


def _print_findings(cells: list[CellResult], reproduce: Callable[[CellResult], list[str]], width: int) -> None:
    """On stderr, one block per cell that failed its declaration: a loss where the scenario declares
    none (with the commands that reproduce it), a declared-safe cell that proved nothing, a declared
    loss that did not happen."""
    from race_harness.report.text import fit

    unsafe = [c for c in cells if c.unsafe]
    for c in unsafe:
        print(
            f"FAIL: {c.strategy} is declared safe for {c.scenario} but lost {c.result.lost_writes if c.result else 0} "
            f"update(s) on {c.database}",
            file=sys.stderr,
        )
        for line in reproduce(c):
            label, _, command = line.partition(": ")
            print(f"  {label}:\n" + fit([f"    {command}"], width), file=sys.stderr)
    # a cell declared safe that proved nothing is not a pass (exit 3), and never reads as a lost update
    unproven = [c for c in cells if c.standing == "unproven"]
    for c in unproven:
        why = _errors(c)
        if not why and c.result is not None:
            undecided = [a.explanation for a in c.result.anomalies if a.kind == "counter-undecided"]
            why = undecided[0] if undecided else NO_CONTENTION
        print(f"INCONCLUSIVE: {c.strategy} on {c.scenario} on {c.database} proved nothing: {why}", file=sys.stderr)
    # a cell declared to lose that did not is a reproduction that stopped reproducing (exit 5)
    missed = [c for c in cells if c.not_reproduced]
    for c in missed:
        why = _errors(c)
        print(
            f"NOT REPRODUCED: {c.strategy} is declared to lose updates in {c.scenario} but came out {c.shown} on "
            f"{c.database}" + (f": {why}" if why else ""),
            file=sys.stderr,
        )


def _errors(cell: CellResult) -> str:
    """The first two errors behind a cell's verdict (a checker's, a crashed session's), or ''."""
    return "; ".join([*(cell.result.checker_errors if cell.result else []), *cell.harness_errors][:2])


def _close(backends: Sequence[Backend]) -> None:
    """Close every backend; on the way out of an interrupt or an error, first drop what this process
    created and still exists (a signal can land between a CREATE DATABASE and its clean-up)."""
    if sys.exc_info()[1] is not None:
        for b in backends:
            with contextlib.suppress(Exception):
                b.drop_own()
    for b in backends:
        b.close()


def _junit_run(
    path: Path,
    cells: Sequence[CellResult],
    specs: dict[str, str],
    reproduce: Callable[[CellResult], list[str]],
    headline: str,
) -> Path:
    """The cells as JUnit cases, named by the ``--db`` value asked for; a failure carries its evidence
    and the commands that reproduce it, as the terminal prints them."""
    from race_harness.report.junit import Case, Problem, write_junit

    cases = []
    for c in cells:
        r = c.result
        declared = c.expected if c.expected in ("lost", "none") else "no verdict"
        figures = f"{c.shown}: {r.lost_writes}/{r.acknowledged} lost; declared {declared}" if r else c.shown
        failure = error = None
        if c.unsafe and r is not None:
            first = r.failures[0] if r.failures else None
            failure = Problem(
                first.kind if first else "lost-update",
                "\n".join(
                    [
                        f"declared none, lost {r.lost_writes}/{r.acknowledged} on {c.database}",
                        *([first.explanation] if first else []),
                        *reproduce(c),
                    ]
                ),
            )
        elif c.standing == "unproven":
            why = _errors(c) or NO_CONTENTION
            error = Problem("inconclusive", f"declared none, proved nothing on {c.database}: {why}")
        elif c.not_reproduced:
            error = Problem("not-reproduced", f"declared lost, came out {c.shown} on {c.database}")
        asked = f"{mask_url(specs.get(c.database, c.database))}, {c.requested[0] or 'default'}, {c.requested[1]}"
        cases.append(
            Case(
                c.scenario,
                f"{c.strategy} [{asked}, {c.writers_in}]",
                c.wall_s,
                failure=failure,
                error=error,
                skipped=c.not_run if c.result is None else None,
                output=figures,
                properties={"database": c.database, "expected": declared, "outcome": c.shown},
            )
        )
    write_junit(path, "race-harness run", cases, {"race-harness.headline": headline})
    return path


def _check_outputs(args: argparse.Namespace) -> None:
    """``run`` and ``p4`` write results (and JUnit XML): where they go is checked before any cell runs."""
    from race_harness.report.files import check_output_dir

    check_output_dir(args.report_dir, "--report-dir")
    if args.junit_xml:
        if args.junit_xml.is_dir():
            raise UsageError(f"--junit-xml {str(args.junit_xml)!r} is a directory; expected the path of a file")
        folder = args.junit_xml.parent
        made_here = [Path.cwd(), args.report_dir.resolve()]
        if not folder.is_dir() and not any(folder.resolve().is_relative_to(d) for d in made_here):
            # a mistyped absolute path must not leave folders about the file system: folders are made
            # for the file only inside the current one or --report-dir
            raise UsageError(
                f"--junit-xml {str(args.junit_xml)!r}: there is no folder {str(folder)!r}; expected an existing "
                "folder, or one inside the current folder or --report-dir"
            )
        check_output_dir(folder, "--junit-xml")


def _write_partial(
    root: Path, finished: Sequence[CellResult], total: int, backends: Sequence[Backend], configs: Sequence[RunConfig]
) -> None:
    """An interrupted run keeps the cells it finished, in a results.json marked partial."""
    from race_harness.report import new_run_dir, write_results

    if not finished:
        return
    path, unwritten = _write(
        lambda: write_results(new_run_dir(root), finished, backends, configs, sys.argv, partial=True)
    )
    if path:
        print(f"race-harness: {len(finished)} of {total} cells finished; partial results: {path}", file=sys.stderr)
    else:
        print(f"race-harness: the {len(finished)} finished cells could not be written: {unwritten}", file=sys.stderr)


def _write(write: Callable[[], Path]) -> tuple[Path | None, str | None]:
    """Write the results; a full disk or a vanished folder after the work loses the files, not the verdict."""
    try:
        return write(), None
    except OSError as exc:
        return None, f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")


def _reproduce(scenario: Scenario, strategy: Strategy, db: str, config: RunConfig, cell: CellResult) -> list[str]:
    """The commands that reproduce a cell's lost update: the cell alone, and its losing pair's schedule."""
    from race_harness.reproduce import commands_for

    again, pair = commands_for(scenario, strategy, db, config, cell)
    return [f"run it again: {again}", *([f"the losing pair: {pair}"] if pair else [])]


def cmd_p4(args: argparse.Namespace) -> int:
    from race_harness.databases import resolve_all
    from race_harness.p4 import P4_LEGEND, format_p4, run_p4
    from race_harness.report import new_run_dir, write_results
    from race_harness.runner import RunConfig
    from race_harness.strategies import get_strategy

    config = RunConfig(writers=args.writers, readers=0, ops=args.ops, think_ms=args.think_ms)
    strategies = [get_strategy(s) for s in _strategy_specs(["full-row", *(args.strategy or [])])]
    backends = resolve_all(args.db or list(DEFAULT_DBS))
    _check_outputs(args)

    def progress(i: int, total: int, name: str) -> None:
        if not args.quiet:
            print(f"[{i:>{len(str(total))}}/{total}] {name}", file=sys.stderr, flush=True)

    try:
        _start(backends)
        cells = run_p4(backends, strategies, config, progress)
        run_dir = args.report_dir
        results, unwritten = _write(
            lambda: write_results(new_run_dir(run_dir), [c.cell for c in cells], backends, [config], sys.argv)
        )
    finally:
        _close(backends)
    print(format_p4(cells))
    print()
    print(P4_LEGEND)
    print(f"\nresults: {results}" if results else f"\nresults: NOT written: {unwritten}")
    if args.junit_xml and not unwritten:
        _, unwritten = _write(lambda: _junit_p4(args.junit_xml, cells))
    if unwritten:
        print(f"race-harness: error: the results could not be written: {unwritten}", file=sys.stderr)
    disagree = [c for c in cells if c.agrees is False]
    for c in disagree:
        print(
            f"DISAGREES: {c.strategy} on {c.backend.label} at {c.isolation}, {c.scope}: {c.text()}; "
            f"documented: {_documented(c)}",
            file=sys.stderr,
        )
    return EXIT_LOST if disagree else EXIT_USAGE if unwritten else 0


def _documented(cell: P4Cell) -> str:
    return "lost" if cell.expected and cell.expected.lost else str(cell.expected)


def _junit_p4(path: Path, cells: Sequence[P4Cell]) -> Path:
    from race_harness.report.junit import Case, Problem, write_junit

    cases = [
        Case(
            mask_url(c.backend.spec),  # as asked: a test's history survives a server upgrade
            f"{c.strategy} [{c.isolation}, {c.scope}]",
            c.cell.wall_s,
            failure=Problem("disagrees", f"{c.text()}; Hermitage documents {_documented(c)}")
            if c.agrees is False
            else None,
            skipped=c.cell.not_run if c.cell.result is None else None,
            output=c.text(),
            properties={"database": c.backend.label},
        )
        for c in cells
    ]
    write_junit(path, "race-harness p4", cases)
    return path


def cmd_report(args: argparse.Namespace) -> int:
    from race_harness.report import charts
    from race_harness.report.files import check_output_dir, write_atomic
    from race_harness.report.findings import findings
    from race_harness.report.html import render_html
    from race_harness.report.markdown import render_markdown
    from race_harness.report.merge import merge
    from race_harness.tally import tally

    collector.resume()  # a merge of many files is work, not start-up
    out: Path = args.out or Path("reports") / f"report-{time.strftime('%Y%m%d-%H%M%S')}"
    check_output_dir(out, "--out")
    merged = merge(args.results)
    found = findings(merged)  # read from the histories once, for both reports
    markdown, page = render_markdown(merged, found), render_html(merged, found)  # fully, before writing anything
    try:
        write_atomic(out / "report.md", markdown)
        write_atomic(out / "report.html", page)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from None
    for note in merged.notes:
        print(f"note: {note}", file=sys.stderr)
    if not charts.available():  # one line: the pip command in it must paste whole
        print(f"note: report.html has no timelines; {charts.MISSING}", file=sys.stderr)
    print(f"{len(merged.sources)} file(s), databases: {', '.join(merged.databases)}")
    print(f"markdown: {out / 'report.md'}\nhtml:     {out / 'report.html'}")
    standings = tally(c.judged for c in merged.cells)
    print("\n".join(standings.lines()))
    return standings.exit_code()  # as run's: the report is written either way


def cmd_replay(args: argparse.Namespace) -> int:
    from race_harness.databases import resolve_all
    from race_harness.preload import preload
    from race_harness.report.text import fit, output_width
    from race_harness.runner import RunConfig
    from race_harness.runner.schedule import ScheduleRunner
    from race_harness.scenario import get_scenario
    from race_harness.schedule import Schedule
    from race_harness.strategies import get_strategy

    width = output_width()

    positive_int("repeat", args.repeat)
    if args.repeat > MAX_REPEAT:
        raise UsageError(f"expected at most {MAX_REPEAT:,} repeats but got --repeat {args.repeat}")
    scenario = get_scenario(args.scenario)
    text, spec, named = _replayed(args, scenario)
    schedule = Schedule.parse(text)
    strategy = get_strategy(spec)
    config = RunConfig(
        isolation=args.isolation, scope=args.scope, on_conflict=args.on_conflict, max_attempts=args.max_attempts
    )
    # what the replay must show: --expect, else a named schedule's bug (with its own strategy), else
    # what the scenario declares for the strategy
    named_bug = named is not None and strategy.spec == named.strategy
    expect = args.expect or ("lost" if named_bug else scenario.expectation(strategy))
    why_lost = (
        "--expect lost"
        if args.expect
        else f"the scenario's named schedule for {strategy.spec}"
        if named_bug
        else f"{scenario.name} declares that {strategy.spec} loses updates"
    )
    backends = resolve_all(args.db or list(DEFAULT_DBS))
    # the verdict's code (NumPy) loads while the database is made; np.isin loads numpy.ma on first use
    preload("race_harness.checkers", "numpy.ma")
    unsafe = missed = False
    try:
        _start(backends)
        for backend in backends:
            if args.repeat > 1 and not args.quiet:
                print(f"replaying {args.repeat} times on {backend.label} ...", file=sys.stderr, flush=True)
            with ScheduleRunner(backend, config, args.step_timeout) as runner:
                results = [runner.run(schedule, scenario, strategy) for _ in range(args.repeat)]
            first = results[0]
            if not args.quiet:
                print(
                    f"== {scenario.name} x {strategy.spec} on {backend.label} ({first.plan.isolation}, "
                    f"{first.plan.scope})"
                )
                print(fit(first.format().splitlines(), width))
            lost = _print_replayed(backend.label, results, expect, width)
            if expect == "none" and lost:
                unsafe = True
                why = "--expect none" if args.expect else f"{strategy.spec} is declared safe for {scenario.name}"
                print(f"FAIL: {why}, but the schedule lost an update on {backend.label}", file=sys.stderr)
            elif expect == "lost" and not lost:
                missed = True
                print(
                    f"NOT REPRODUCED: the schedule is expected to lose an update ({why_lost}) but none of "
                    f"{len(results)} run(s) did on {backend.label}",
                    file=sys.stderr,
                )
            if not args.quiet:
                print()
    finally:
        _close(backends)
    return EXIT_LOST if unsafe else EXIT_NOT_REPRODUCED if missed else 0


def _replayed(args: argparse.Namespace, scenario: Scenario) -> tuple[str, str, NamedSchedule | None]:
    """The steps ``replay`` runs and the strategy it runs them with: a named schedule brings its own;
    steps given as text need ``--strategy``, except an application's (its own functions run)."""
    given = args.schedule
    if given is not None and not given.strip():
        raise UsageError(
            "expected --schedule STEPS (e.g. 'A.read B.read A.write B.write') or a named schedule but got ''"
        )
    if given is None and not scenario.schedules:
        raise UsageError(f"scenario {scenario.name} names no schedules; give one with --schedule 'A.read B.read ...'")
    if given is None or ("." not in given and "=" not in given):
        named = scenario.named_schedule(given or next(iter(scenario.schedules)))
        return named.text, args.strategy or named.strategy, named
    if args.strategy is None and scenario.is_app:
        return given, "app", None  # the application's own functions are what runs
    if args.strategy is None:
        raise UsageError(
            "expected --strategy SPEC with a schedule given as steps (only named schedules bring their own)"
        )
    return given, args.strategy, None


def _print_replayed(label: str, results: list[ScheduleResult], expect: str | None, width: int) -> int:
    """The line that says how many of a database's replays lost an update; how many did."""
    from race_harness.report.text import wrap

    # a whole-second run that never fitted in one second proves nothing either way: set aside
    aside = [r for r in results if r.same_second is False]
    kept = [r for r in results if r.same_second is not False]
    lost = sum(r.lost for r in kept)
    verdicts = sorted({r.verdict for r in kept})
    said = f"expected: {expect}" if expect in ("lost", "none") else "no verdict declared"
    if lost:
        outcome = f"reproduced {lost}/{len(kept)}"
    elif expect == "none":  # what was asked for: said so, not as a reproduction that failed
        outcome = f"no lost update in {len(kept)}/{len(kept)}"
    else:
        outcome = f"not reproduced, 0/{len(kept)} lost"
    # the verdicts when the count does not imply them (a mix, or a run that proved nothing)
    implied = verdicts == ["lost-updates"] if lost == len(kept) else verdicts == ["no-lost-updates"]
    if not (implied and lost in (0, len(kept))):
        said += f"; verdicts: {', '.join(verdicts) or 'none'}"
    aside_note = f"; {len(aside)} set aside: their steps did not fit in one second" if aside else ""
    print(wrap(f"{label}: {outcome} ({said}){aside_note}", width))
    return lost


PROGRESS_EVERY_S = 5.0


def cmd_explore(args: argparse.Namespace) -> int:
    from race_harness.databases import resolve_all
    from race_harness.report.text import fit, output_width
    from race_harness.runner import RunConfig
    from race_harness.runner.explorer import Exploration, explore
    from race_harness.runner.schedule import ScheduleRunner
    from race_harness.scenario import get_scenario
    from race_harness.strategies import get_strategy

    width = output_width()

    positive_int("max-interleavings", args.max_interleavings)
    if args.max_interleavings > MAX_INTERLEAVINGS:
        raise UsageError(
            f"expected at most {MAX_INTERLEAVINGS:,} interleavings but got --max-interleavings {args.max_interleavings}"
        )
    if not (args.max_seconds > 0 and math.isfinite(args.max_seconds)):
        raise UsageError(f"expected a positive, finite number of seconds but got --max-seconds {args.max_seconds!r}")
    if args.operation is not None and not 2 <= len(args.operation) <= 3:
        raise UsageError(f"expected -o once per session, 2 or 3 times, but got it {len(args.operation)} time(s)")
    scenario = get_scenario(args.scenario)
    if not scenario.is_app:
        raise UsageError(
            f"explore needs an application scenario (its own functions, operation(...)) but {scenario.name!r} runs "
            "strategies; use race-harness run or replay for it"
        )
    for name in args.operation or []:
        if name not in scenario.schedule_operations:
            raise UsageError(
                f"unknown operation {name!r} of scenario {scenario.name}; expected one of "
                f"{', '.join(scenario.schedule_operations)}"
            )
    backends = resolve_all(args.db or list(DEFAULT_DBS))
    expectation = scenario.expectation(get_strategy("app"))
    unsafe = unproven = missed = False
    try:
        _start(backends)
        for backend in backends:
            print(f"exploring {scenario.name} on {backend.label} ...", file=sys.stderr, flush=True)
            last = [time.monotonic()]

            def progress(found: Exploration, last: list[float] = last) -> None:
                if time.monotonic() - last[0] >= PROGRESS_EVERY_S:  # long work says how far it got
                    last[0] = time.monotonic()
                    done = f"{found.explored} interleavings explored, {found.pruned} pruned"
                    print(f"  ... {done} ({found.seconds_so_far:.0f} s)", file=sys.stderr, flush=True)

            with ScheduleRunner(backend, RunConfig(isolation=args.isolation), args.step_timeout) as runner:
                found = explore(
                    runner,
                    scenario,
                    args.operation,
                    max_interleavings=args.max_interleavings,
                    max_seconds=args.max_seconds,
                    stop_on_first=not args.all,
                    progress=progress,
                )
            print(fit(found.summary(), width))
            if expectation == "none" and found.verdict == "lost-updates":
                unsafe = True
                print(f"FAIL: {scenario.name} is declared safe but lost an update on {backend.label}", file=sys.stderr)
            elif expectation == "none" and found.verdict == "inconclusive":
                unproven = True
                print(f"INCONCLUSIVE: {scenario.name} on {backend.label}: {found.summary()[-1]}", file=sys.stderr)
            elif expectation == "lost" and found.verdict != "lost-updates":
                missed = True
                print(
                    f"NOT REPRODUCED: {scenario.name} is declared to lose updates but no interleaving explored did on "
                    f"{backend.label}: {found.summary()[-1]}",
                    file=sys.stderr,
                )
            print()
    finally:
        _close(backends)
    return EXIT_LOST if unsafe else EXIT_INCONCLUSIVE if unproven else EXIT_NOT_REPRODUCED if missed else 0


def cmd_clean(args: argparse.Namespace) -> int:
    from race_harness.databases import resolve_all
    from race_harness.databases.creators import creator_of

    backends = resolve_all(args.db or ["postgres", "mysql"])
    try:
        for b in backends:
            b.start()
            dropped, kept = b.sweep()
            templates = b.template_names()
            shown = f"{len(templates)} template(s) dropped" if args.templates else f"{len(templates)} template(s) kept"
            print(f"{b.label} [{b.source}]: {len(dropped)} dropped, {len(kept)} kept; {shown}")
            for name in dropped:
                print(f"  dropped {name}: its creator has ended")
            for name in kept:
                creator = creator_of(name)
                why = creator.describe() if creator else "named by an older race-harness: its creator is unknown"
                print(f"  kept    {name}: {why}")
            for name in templates:
                if args.templates:
                    b.drop_template(name)
                    print(f"  dropped {name}: a schema template (--templates)")
                else:
                    print(f"  kept    {name}: a schema template, reused by later runs (--templates drops it)")
    finally:
        _close(backends)
    _clean_containers()
    return 0


def _clean_containers() -> None:
    """The containers of ended runs (container:IMAGE), where an engine answers; else why not, in one line."""
    from race_harness.databases.containers import engine_problem, sweep_containers

    problem = engine_problem()
    if problem:
        print(f"containers: not checked: {problem}")
        return
    removed, kept = sweep_containers()
    where = os.environ.get("DOCKER_HOST") or "default Docker socket"
    print(f"containers [{where}]: {len(removed)} removed, {len(kept)} kept")
    for name in removed:
        print(f"  removed {name}: its creator has ended")
    for name, creator in kept:
        why = creator.describe() if creator else "no creator label (an older race-harness): its creator is unknown"
        print(f"  kept    {name}: {why}")


def cmd_list(args: argparse.Namespace) -> int:
    from race_harness.databases.providers import status
    from race_harness.scenario import get_scenario, scenario_names
    from race_harness.strategies import available

    found = [(name, get_scenario(name)) for name in args.scenario or scenario_names()]  # a bad one: its line alone
    print("scenarios:")
    for name, s in found:
        _row(name, s.summary)
        _row("", f"declares: {_declared(s)}")
        _row("", f"schedule operations: {', '.join(s.schedule_operations)}")
        for key, named in s.schedules.items():
            _row("", f"schedule {key} ({named.strategy}): {named.text}")
        if args.verbose:
            from race_harness.scenario import describe

            for line in describe(s):
                _row("", line)
    print("\nstrategies (NAME or NAME:PARAM):")
    for name, cls in sorted(available().items()):
        _row(name, cls.summary)
    print("\ndatabases (--db):")
    for provider in DATABASES:  # each kind of --db value, as its table entry says to show it
        if provider.probe == "always" or (provider.probe == "asked" and args.probe):
            _probe(provider.spec)
        elif (said := status(provider)) is not None:
            _row(provider.spec, said, 6)
    for spec in args.db or []:
        _probe(spec)
    unset = [f"${v}" for v in ENV_URLS.values() if not os.environ.get(v)]
    if unset:
        _row("", f"(set {' / '.join(unset)} to use another PostgreSQL / MySQL server for --db postgres / mysql)", 4)
    return 0


def _declared(scenario: Scenario) -> str:
    """What a scenario expects of the strategies: its own entries, or for a kind of bug what each
    built-in declares against it (its ``loses_to``)."""
    own = ", ".join(f"{k}={v}" for k, v in scenario.expected.items())
    if scenario.bug is None:
        return own or "nothing"
    from race_harness.strategies import all_specs, get_strategy

    said = {spec: scenario.expectation(get_strategy(spec)) for spec in all_specs()}
    lost = [spec for spec, e in said.items() if e == "lost"]
    none = [spec for spec, e in said.items() if e == "none"]
    kind = f"a {scenario.bug} bug: lost by {', '.join(lost) or 'none'}; none by {', '.join(none) or 'none'}"
    return f"{own}; {kind}" if own else kind


@functools.cache
def _list_width() -> int:
    from race_harness.report.text import output_width

    return output_width()


def _row(name: str, text: str, hang: int = 27) -> None:
    """A line of ``list``: a name in a column of 24, its text after it, wrapped at the output's width
    with continuation lines indented ``hang`` spaces (less than the name column: room for a URL)."""
    width = max(_list_width(), hang + 20)
    first = f"  {name:24} " if name or hang == 27 else " " * hang
    own = " " * (len(text) - len(text.lstrip(" ")))  # a nested line keeps its indentation when wrapped
    if not text.strip():  # a scenario with no summary: its name alone (textwrap would drop the line)
        print(first.rstrip())
        return
    print(
        textwrap.fill(
            text.lstrip(" "),
            width,
            initial_indent=first + own,
            subsequent_indent=" " * hang + own,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def _probe(spec: str) -> None:
    """Connect (start, for embedded servers) and print the version, or why not, in one line."""
    from race_harness.databases import resolve_all

    shown = mask_url(spec)
    try:
        backends = resolve_all([spec])
    except HarnessError as exc:
        _row(shown, f"unusable: {mask_url(str(exc))}", 6)
        return
    for b in backends:
        try:
            b.start()
            _row(shown, f"reachable: {b.label}  [{b.source}]", 6)
        except HarnessError as exc:
            where = os.environ.get(ENV_URLS[spec], "") if spec in ENV_URLS else ""
            _row(shown, f"NOT reachable at {mask_url(where or LOCAL_URLS.get(spec, spec))}: {mask_url(str(exc))}", 6)
        finally:
            b.close()


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM (what CI time-outs and ``timeout`` send) or SIGHUP: all end the run the same way,
    through the clean-up every ``finally`` does, and exit with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """The first signal interrupts the work; later ones, arriving while the scratch databases are
    dropped and the servers stopped, are reported and ignored, so they cannot cut the clean-up short."""

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[int] = []
        self.previous: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.HANDLED:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            raise Interrupted(signum)
        print(f"race-harness: {signal.Signals(signum).name} ignored: still cleaning up", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            # once interrupted the process is on its way out: a later signal (during the interpreter's
            # own shutdown, which can take a moment with sessions still closing) must not turn the
            # exit code 128 + n into a death by signal
            signal.signal(sig, signal.SIG_IGN if self.received else handler)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if argv is None:  # the process's own command line: the process is this command's, and so is its collector
        collector.pause()  # until the command's imports are done: _start, or the report's own
    try:
        with _Signals():
            return _run_command(args)
    finally:
        collector.resume()


def _run_command(args: argparse.Namespace) -> int:
    try:
        commands = {
            "run": cmd_run,
            "p4": cmd_p4,
            "replay": cmd_replay,
            "explore": cmd_explore,
            "report": cmd_report,
            "list": cmd_list,
            "clean": cmd_clean,
        }
        return commands[args.command](args)
    except HarnessError as exc:
        print(f"race-harness: error: {mask_url(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        start = "\n" if sys.stderr.isatty() else ""  # off the progress bar's unfinished line
        name = signal.Signals(signum).name
        print(f"{start}race-harness: interrupted ({name}); scratch databases were dropped", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # `race-harness list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a crash must never exit 1, which says a declared-safe strategy lost an update
        import traceback

        if os.environ.get("RACE_HARNESS_TRACEBACK"):
            traceback.print_exc()
        frames = traceback.extract_tb(exc.__traceback__)
        at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        first = mask_url(str(exc)).splitlines()[0] if str(exc) else ""
        print(
            f"race-harness: internal error{at}: {type(exc).__name__}: {first} "
            "(a bug in race-harness; RACE_HARNESS_TRACEBACK=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_CRASH


if __name__ == "__main__":
    sys.exit(main())
