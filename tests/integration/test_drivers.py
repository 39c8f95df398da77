"""Both MySQL drivers a team meets, chosen by the URL: PyMySQL (``mysql://``, ``mysql+pymysql://``) and
mysqlclient (``mysql+mysqldb://``, Django's): the same verdicts through each, on MariaDB and on MySQL
proper (the container), for the bundled strategies and for application code handed the driver's own
connection. mysqlclient is the ``mysqlclient`` extra (it compiles against libmariadb-dev): without it
these tests skip with the reason, unless ``$RACE_HARNESS_REQUIRE`` names ``mysqlclient`` (CI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from race_harness import RunConfig, Scenario, ScheduleRunner, check, get_scenario, get_strategy, operation, run_stress
from race_harness.databases import Backend
from race_harness.databases.creators import own_prefix
from race_harness.databases.mysql import MySQLBackend
from race_harness.databases.providers import backend_for_url
from tests.cli import race_harness
from tests.example_app import witnessed as app

from .conftest import _required, get_backend

SERVERS = ["mysql", "container:mysql:9"]


@pytest.fixture(params=SERVERS)
def mysqlclient(request: pytest.FixtureRequest) -> Backend:
    """The server, reached through mysqlclient."""
    if importlib.util.find_spec("MySQLdb") is None:
        reason = "mysqlclient is not installed (pip install 'race-harness[mysqlclient]'; it needs libmariadb-dev)"
        if "mysqlclient" in _required():
            pytest.fail(f"mysqlclient is required by $RACE_HARNESS_REQUIRE: {reason}")
        pytest.skip(reason)
    server = get_backend(request.param).server  # a container's: the server in it
    assert isinstance(server, MySQLBackend)
    url = server.admin_url.set(drivername=f"{server.admin_url.get_backend_name()}+mysqldb")
    backend = backend_for_url(url.render_as_string(hide_password=False))
    backend.start()
    assert backend.label.endswith("(mysqlclient)"), backend.label
    return backend


@pytest.mark.parametrize(
    ("scenario_name", "spec", "expected"),
    [
        ("glance_image_update", "full-row", "lost-updates"),
        ("glance_image_update", "version-occ", "no-lost-updates"),
        ("counter", "full-row", "lost-updates"),
        ("counter", "select-for-update", "no-lost-updates"),
        ("nova_server_metadata", "full-row", "lost-updates"),
        ("nova_server_metadata", "compare-and-swap", "no-lost-updates"),
    ],
)
def test_verdicts_through_mysqlclient(mysqlclient: Backend, scenario_name: str, spec: str, expected: str) -> None:
    """As test_verdicts judges every cell: a loss within a few runs; a safe strategy loses in none and
    proves the race in one."""
    scenario, strategy = get_scenario(scenario_name), get_strategy(spec)
    seen = []
    for _ in range(4):
        record = run_stress(scenario, strategy, mysqlclient, RunConfig(ops=120))
        assert not record.harness_errors, record.harness_errors
        result = check(record.history, record.initial, record.final, token=strategy.token)
        seen.append(result.verdict)
        if expected == "no-lost-updates":
            assert result.verdict != "lost-updates", [a.explanation for a in result.failures[:2]]
        if result.verdict == expected:
            break
    assert seen[-1] == expected, seen
    # its own scratch databases are gone (another xdist worker's may be in use on the same server)
    assert [n for n in mysqlclient.leftover_databases() if n.startswith(own_prefix())] == []


def test_application_code_on_mysqlclients_own_connection(mysqlclient: Backend) -> None:
    """uses="dbapi" hands over MySQLdb's connection (behind the proxy that sees its statements): the
    witnesses read its reads and writes as they do PyMySQL's, and a stale write-back is caught."""
    scenario = Scenario(
        "witnessed_mysqlclient",
        entity=app.ENTITY,
        operations={
            "retitle": operation(app.dbapi_save, uses="dbapi", sets="title"),
            "rebody": operation(app.dbapi_save, uses="dbapi", sets="body"),
        },
    )
    schedule = "A=retitle B=rebody C=retitle A.read B.read A.write B.write C.read C.write"
    with ScheduleRunner(mysqlclient) as runner:
        result = runner.run(schedule, scenario, get_strategy("app"))
    text = result.format()
    assert result.verdict == "lost-updates", text
    (stale,) = [a for a in result.result.anomalies if a.kind == "stale-write"]
    assert "UPDATE wit_notes SET title = %s, body = %s WHERE id = %s" in stale.explanation, stale.explanation


def test_a_run_names_the_driver_in_its_column(tmp_path: Path, mysqlclient: Backend) -> None:
    url = mysqlclient.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    ref = "race_harness.examples.documents_core:SCENARIO"
    proc = race_harness("run", "-d", url, "-s", ref, "--ops", "80", "-q", "--report-dir", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(mysqlclient)" in proc.stdout and "lost" in proc.stdout
