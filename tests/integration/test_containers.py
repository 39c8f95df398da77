"""Real database containers through testcontainers: a server per image, started, used, removed.

Needs a Docker engine or podman's Docker-compatible socket (``DOCKER_HOST``); on this project's
machines ``.ci/containers/setup.sh`` provides one with locally built images. Without an engine
these tests skip with the engine's one-line reason, unless ``$RACE_HARNESS_REQUIRE`` names
``containers`` (CI), where that fails.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from race_harness import RunConfig, check, get_scenario, get_strategy, run_stress
from race_harness.databases.containers import PID_LABEL, ContainerBackend
from tests.cli import COMMAND, race_harness

from .conftest import get_backend

IMAGES = ["postgres:15", "mariadb:10.11"]


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


def test_cli_run_in_a_container_leaves_no_container_behind(tmp_path: Path) -> None:
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
