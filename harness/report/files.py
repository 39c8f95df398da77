"""Where reports go: checked before any work starts, and written so that a reader never sees half a file."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from race_harness.errors import UsageError

MIN_FREE_BYTES = 20 * 1024 * 1024  # a run's results and histories are a few MB; less than this fails early


def check_output_dir(path: Path, option: str) -> None:
    """``path`` could take files and has room: else one line naming it, before any work. Nothing is
    created here (a run that then fails on bad input leaves no folder): a missing ``path`` is judged
    by the nearest folder that exists above it, where it would be created."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".race-harness-probe-"):
            pass
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot write to {option} {str(path)!r}: {reason}; expected a writable directory") from None
    if free < MIN_FREE_BYTES:
        raise UsageError(
            f"{option} {str(path)!r} has {free // 1024} KiB free; expected at least {MIN_FREE_BYTES // 2**20} MiB"
        )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (its folder created), then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a report is as readable as any file the user writes (umask)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
