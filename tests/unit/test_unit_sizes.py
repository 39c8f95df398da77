"""Units a contributor can read in one sitting: the command line's functions (one parser builder per
command, one function per step of a command) and the schedule coordinator's module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import race_harness

PACKAGE = Path(race_harness.__file__).parent
MAX_FUNCTION_LINES = 80
MAX_COORDINATOR_LINES = 500


@pytest.mark.parametrize("module", ["cli.py", "cli_parser.py"])
def test_no_command_line_function_is_longer_than_a_screen(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    sizes = {
        node.name: node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert {name: n for name, n in sizes.items() if n > MAX_FUNCTION_LINES} == {}


def test_the_schedule_coordinator_is_one_module_of_its_own() -> None:
    lines = len((PACKAGE / "runner" / "schedule.py").read_text(encoding="utf-8").splitlines())
    assert lines < MAX_COORDINATOR_LINES
