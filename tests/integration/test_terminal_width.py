"""The comparison table at 80 and 120 columns, on a terminal (rich) and in a log (plain text).

Nothing that matters may be cut: every line fits the width, and each cell's strategy, verdict and
lost/acknowledged figure appear whole in its row (or its block, when the stacked layout takes over).
The cells come from a real run on SQLite and whichever of PostgreSQL and MariaDB answer here.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli import printed_command, race_harness, run_in_terminal
from tests.integration.conftest import answering_databases

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")


def _args(databases: list[str]) -> list[str]:
    args = ["run", "-s", "counter", "-s", "glance_image_update", "-S", "full-row", "-S", "timestamp-occ:6"]
    args += ["-S", "version-occ", "-n", "30", "-w", "4", "--scope", "separate", "--scope", "single"]
    for db in databases:
        args += ["-d", db]
    return args


def _cells(cwd: Path) -> list[dict[str, Any]]:
    (results,) = cwd.glob("reports/run-*/results.json")
    cells: list[dict[str, Any]] = json.loads(results.read_text())["cells"]
    return cells


def _shown_whole(text: str, cells: list[dict[str, Any]]) -> None:
    lines = [line.rstrip() for line in text.splitlines()]
    heading = " ".join(lines[: next((i for i, line in enumerate(lines) if not line), 0)])
    table = any(re.fullmatch(r"-+(  -+)*", line) for line in lines)
    for cell in cells:
        lost = f"{cell['lost_writes']}/{cell['acknowledged']}" if cell["outcome"] != "n/a" else "-"
        names = [cell["strategy"], cell["database"], cell["scope"], cell["scenario"]]
        # a table row, or in the stacked layout a title line (what the cell is) and its first figures
        stacked = [f"{a} {b}" for a, b in itertools.pairwise(lines) if not a.startswith(" ")]
        blocks = lines if table else stacked
        found = [
            b
            for b in blocks
            if all(re.search(rf"(^|[\s·]){re.escape(n)}($|[\s·])", b) or n in heading for n in names)
            and re.search(rf"(^|\s)(verdict )?{cell['outcome']}(\s|$)", b)
            and re.search(rf"(^|\s)(lost/ack )?{re.escape(lost)}(\s|$)", b)
        ]
        assert found, f"{names} {cell['outcome']} {lost} not shown whole in:\n{text}"


@pytest.mark.parametrize("width", [80, 120])
def test_the_table_fits_the_width_and_cuts_nothing_that_matters(tmp_path: Path, width: int) -> None:
    databases = answering_databases()
    plain = race_harness(*_args(databases), "-q", cwd=tmp_path, env={"COLUMNS": str(width)})
    assert plain.returncode == 0, plain.stdout + plain.stderr
    too_long = [line for line in plain.stdout.splitlines() if len(line) > width]
    assert not too_long, f"plain output wider than {width}: {too_long}"
    _shown_whole(plain.stdout, _cells(tmp_path))

    fancy_dir = tmp_path / "fancy"
    fancy_dir.mkdir()
    code, raw = run_in_terminal(_args(databases), fancy_dir, columns=width)
    assert code == 0, raw
    screen = ESCAPE.sub("", raw)
    fragments = [f for line in screen.split("\n") for f in line.split("\r")]
    too_long = [f for f in fragments if len(f.rstrip()) > width]
    assert not too_long, f"terminal output wider than {width}: {too_long}"
    table = screen[screen.index("in every row:") if "in every row:" in screen else 0 :]
    _shown_whole(table.replace("\r", ""), _cells(fancy_dir))


EIGHTY = {
    "run": ["run", "-s", "glance_image_update", "-s", "counter", "-d", "sqlite", "-n", "30", "-q"],
    "replay": ["replay", "-s", "glance_image_update", "-S", "full-row", "-d", "sqlite"],
    "explore": ["explore", "-s", "race_harness.examples.documents_core:SCENARIO", "-d", "sqlite"],
    "list -v": ["list", "-v"],
}


@pytest.mark.parametrize("command", EIGHTY)
def test_every_command_fits_80_columns(tmp_path: Path, command: str) -> None:
    """What a command prints for a person fits an 80-column log (stderr's error lines excepted), and a
    printed command still runs as printed."""
    proc = race_harness(*EIGHTY[command], cwd=tmp_path, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    too_long = [line for line in proc.stdout.splitlines() if len(line) > 80]
    assert not too_long, f"{command} at 80 columns:\n" + "\n".join(too_long)
    if command == "run":
        header = next(line for line in proc.stdout.splitlines() if line.startswith("scenario "))
        assert header.split()[:4] == ["scenario", "strategy", "verdict", "expected"], header
        assert proc.stdout.rstrip().splitlines()[-1].startswith("10 cells: ")  # the headline ends the run
        legend = proc.stdout.split("\n\n")[2].splitlines()
        assert 1 <= len(legend) <= 7 and "--legend" in legend[-1], legend
    if command == "explore":
        argv = printed_command(proc.stdout)  # broken over lines as a shell reads it back
        replayed = race_harness(*argv[1:], "--repeat", "3", cwd=tmp_path, env={"COLUMNS": "80"})
        assert replayed.returncode == 0 and "reproduced 3/3" in replayed.stdout, replayed.stdout + replayed.stderr
