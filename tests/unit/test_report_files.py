from __future__ import annotations

import os
import stat
from pathlib import Path

from race_harness.report.files import write_atomic


def test_a_written_report_is_as_readable_as_any_file_the_user_writes(tmp_path: Path) -> None:
    """Written to a temporary file and renamed, yet not left 0600 as mkstemp makes it."""
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "out" / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    path = tmp_path / "out" / "report.html"
    assert path.read_text() == "<p>hi</p>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left
