"""Run the real ``race-harness`` command in a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

COMMAND = [sys.executable, "-m", "race_harness.cli"]

# Every command that starts a database (run, replay, explore, p4, clean) drops the scratch databases
# and containers of creators that have ended. A test that leaves one behind on purpose, to see *its*
# command drop it, would race with a command in another xdist worker dropping it first; every command
# a test runs holds this lock shared and that test holds it exclusively.
_SWEEP_LOCK = Path(tempfile.gettempdir()) / f"race-harness-tests-{os.getuid()}-sweep.lock"


_held = False  # flock is per open file: this process's own runs must not wait for its exclusive hold


@contextlib.contextmanager
def sweep_lock(exclusive: bool) -> Iterator[None]:
    global _held
    if _held:
        yield
        return
    with _SWEEP_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        _held = exclusive
        try:
            yield
        finally:
            _held = False
            fcntl.flock(handle, fcntl.LOCK_UN)


def race_harness(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    with sweep_lock(exclusive=False):
        return subprocess.run(
            [*COMMAND, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
        )


def run_in_terminal(args: list[str], cwd: Path, columns: int = 220) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal, as a person at a shell would."""
    import pty
    import struct
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))  # the window's size
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    with sweep_lock(exclusive=False):
        proc = subprocess.Popen([*COMMAND, *args], cwd=cwd, stdin=child, stdout=child, stderr=child, env=env)
        os.close(child)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(main)
        return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def table_rows(stdout: str) -> list[dict[str, str]]:
    """The table as dicts, each with the heading's values (those the same in every row) too. Column
    extents come from the dashed rule under the header, because headers and values may contain spaces
    ("postgresql 18.6 (embedded)")."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if re.fullmatch(r"-+(  -+)*", line))
    # the heading wraps between its items: a line break stands for the " · " between two of them
    heading = " · ".join(line.strip() for line in lines[:rule] if line.strip()).split("in every row: ")[-1]
    common = dict(item.split(" ", 1) for item in heading.split(" · ")) if "in every row: " in stdout else {}
    spans = [m.span() for m in re.finditer(r"-+", lines[rule])]
    spans[-1] = (spans[-1][0], 10_000)

    def cut(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in spans]

    names = cut(lines[rule - 1])
    rows = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        rows.append({**common, **dict(zip(names, cut(line), strict=True))})
    return rows


def printed_command(text: str, start: str = "race-harness replay") -> list[str]:
    """The arguments of the first command in ``text`` that begins with ``start``, as a POSIX shell reads
    it when pasted: over several lines, breaks between arguments end with a backslash, and a schedule
    may break inside its quotes."""
    at = text.index(start)
    lines = text[at:].split("\n")
    taken = []
    for line in lines:
        taken.append(line)
        joined = "\n".join(taken)
        if not joined.endswith("\\") and joined.count("'") % 2 == 0:
            break
    command = "\n".join(taken).replace("\\\n", " ")
    return shlex.split(command)
