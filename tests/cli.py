"""Run the real ``race-harness`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMAND = [sys.executable, "-m", "race_harness.cli"]


def race_harness(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
