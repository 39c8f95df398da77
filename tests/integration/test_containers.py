"""Real database containers through testcontainers: a server per image, started, used, removed.

Needs a Docker engine or podman's Docker-compatible socket (``DOCKER_HOST``); on this project's
machines ``.ci/containers/setup.sh`` provides one with locally built images. Without an engine
these tests skip with the engine's one-line reason, unless ``$RACE_HARNESS_REQUIRE`` names
``containers`` (CI), where that fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from race_harness import RunConfig, check, get_scenario, get_strategy, run_stress
from race_harness.databases.containers import CREATOR_LABEL, LABEL, PID_LABEL, ContainerBackend
from race_harness.databases.creators import own_tag
from tests.cli import COMMAND, race_harness, sweep_lock

from .conftest import get_backend

IMAGES = ["postgres:15", "mariadb:10.11", "mysql:9"]


def containers_of(pid: int) -> list[str]:
    """Containers, running or stopped, that the harness process ``pid`` started."""
    import docker

    client = docker.from_env(timeout=10)
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": f"{PID_LABEL}={pid}"})]
    finally:
        client.close()


@pytest.mark.parametrize("image", IMAGES)
def test_scenarios_reach_their_verdicts_in_a_container(image: str) -> None:
    backend = get_backend(f"container:{image}")  # skips (or fails when required) without an engine
    assert isinstance(backend, ContainerBackend)
    assert backend.label.endswith("(container)")
    scenario = get_scenario("glance_image_update")
    for spec, expected in (("full-row", "lost-updates"), ("version-occ", "no-lost-updates")):
        strategy = get_strategy(spec)
        record = run_stress(scenario, strategy, backend, RunConfig(ops=120))
        result = check(record.history, record.initial, record.final, token=strategy.token)
        assert result.verdict == expected, (spec, result.verdict)
    assert backend.leftover_databases() == []


def test_cli_run_in_a_container_leaves_no_container_behind(sweeping: None, tmp_path: Path) -> None:
    get_backend("container:postgres:15")
    args = ["run", "-d", "container:postgres:15", "-s", "counter", "-S", "full-row", "-S", "version-occ", "-q"]
    proc = subprocess.Popen([*COMMAND, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "(container)" in out and "lost" in out
    assert containers_of(proc.pid) == []  # labelled with its process id, so other workers' do not count


def test_without_an_engine_the_provider_says_so_in_one_line(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/no-engine.sock"
    proc = race_harness("run", "-d", "container:postgres:16", cwd=tmp_path, env={"DOCKER_HOST": missing}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"no Docker engine answers at {missing}" in proc.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("image", "settle"),
    [("postgres:15", 0.0), ("postgres:15", 6.0), ("mysql:9", 6.0)],
    ids=["postgres-while-it-starts", "postgres-mid-run", "mysql-mid-run"],
)
def test_sigkill_leaves_no_container(sweeping: None, tmp_path: Path, image: str, settle: float) -> None:
    """SIGKILL runs no clean-up of the harness's own; the container's guard removes it within seconds."""
    get_backend(f"container:{image}")
    args = [*COMMAND, "run", "-d", f"container:{image}", "-s", "counter", "-S", "full-row", "--duration", "120"]
    proc = subprocess.Popen([*args, "-q"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not containers_of(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, "no container was started"
            time.sleep(0.2)
        time.sleep(settle)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 60
    while containers_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert containers_of(proc.pid) == []


@pytest.mark.parametrize("image", ["postgres:15", "mysql:9"])
def test_clean_removes_the_containers_of_ended_runs_and_nothing_else(tmp_path: Path, image: str) -> None:
    """Containers whose creator is provably gone are removed; a live creator's, or one with no
    creator label, are listed and kept (real containers, labelled as the harness labels its own)."""
    get_backend(f"container:{image}")
    import docker

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(ended.stdout)  # that process has ended: a creator that is provably gone
    gone = f"{pid}_{own_tag().split('_')[1]}_{own_tag().split('_')[2]}"
    labels = {"gone": {LABEL: "1", CREATOR_LABEL: gone}, "live": {LABEL: "1", CREATOR_LABEL: own_tag()}}
    labels["unlabelled"] = {LABEL: "1"}
    client = docker.from_env(timeout=30)
    made = {}
    try:
        with sweep_lock(exclusive=True):  # no other worker's start may remove what this test made first
            for what, label in labels.items():
                container = client.containers.run(
                    image,
                    ["sleep", "300"],
                    detach=True,
                    labels=label,
                    name=f"rh-test-{what}-{image.replace(':', '-')}-{os.getpid()}",
                )
                made[what] = container.name
            cleaned = race_harness("clean", "-d", "sqlite", cwd=tmp_path)
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"  removed {made['gone']}: its creator has ended" in cleaned.stdout, cleaned.stdout
        assert f"  kept    {made['live']}: its creator, pid {os.getpid()}, still runs" in cleaned.stdout
        assert f"  kept    {made['unlabelled']}: no creator label" in cleaned.stdout
        left = {c.name for c in client.containers.list(all=True, filters={"label": LABEL})}
        assert made["gone"] not in left and {made["live"], made["unlabelled"]} <= left
    finally:
        for name in made.values():
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(name).remove(force=True, v=True)
        client.close()


def test_p4_on_mysql_agrees_with_hermitage(tmp_path: Path) -> None:
    """MySQL proper: lost updates at READ COMMITTED and REPEATABLE READ in one transaction (InnoDB has no
    first-updater-wins), a deadlock victim (1213) at SERIALIZABLE, and losses in two transactions."""
    get_backend("container:mysql:9")
    proc = race_harness("p4", "-d", "container:mysql:9", "--report-dir", "out", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("full-row")]
    assert len(rows) == 6 and not [r for r in rows if r.rstrip().endswith("!")], proc.stdout
    assert "mysql 9." in proc.stdout and "(container)" in proc.stdout
    (single_serializable,) = [r for r in rows if "serializable" in r and "single" in r]
    assert "refused (1213" in single_serializable, single_serializable
