"""The collector pause around a command's imports: it always comes back on, with what start-up made
set aside, and it leaves a caller's own ``gc.disable()`` alone. Each case runs in a process of its
own: the collector's state is the process's."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_resume_sets_aside_what_start_up_made_and_collects_again() -> None:
    code = (
        "import gc\nfrom race_harness import collector\n"
        "collector.pause(); print(gc.isenabled())\n"
        "made = [[] for _ in range(1000)]\n"
        "collector.resume(); print(gc.isenabled(), gc.get_freeze_count() >= 1000)\n"
        "collector.resume(); print(gc.isenabled())"
    )
    assert _run(code) == ["False", "True", "True", "True"]


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    code = (
        "import gc\nfrom race_harness import collector\n"
        "gc.disable(); collector.pause(); collector.resume(); print(gc.isenabled(), gc.get_freeze_count())"
    )
    assert _run(code) == ["False", "0"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],  # argparse exits
        ["replay", "-s", "no_such_scenario", "--db", "sqlite"],  # a usage error before any database
        ["list"],
    ],
)
def test_every_command_ends_with_the_collector_on(argv: list[str]) -> None:
    """As the process's command (``main()`` reads ``sys.argv``), ending before or without a database."""
    code = (
        "import gc, sys\nfrom race_harness.cli import main\n"
        f"sys.argv = ['race-harness', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('ENABLED', gc.isenabled())"
    )
    assert _run(code)[-2:] == ["ENABLED", "True"]


def test_a_program_calling_main_keeps_its_collector_as_it_was() -> None:
    """main([...]) from another program: nothing it had made is frozen out of collection."""
    code = "import gc\nfrom race_harness.cli import main\nmain(['list'])\nprint(gc.isenabled(), gc.get_freeze_count())"
    assert _run(code)[-2:] == ["True", "0"]
