"""Who created a scratch database or container, and whether that creator is provably gone.

A live creator judged gone would have its scratch databases dropped and its containers removed
under it by another run's sweep, so "gone" must never depend on the wall clock, which NTP moves.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from race_harness.databases.creators import _base36, creator_of_tag, own_tag


def _ended_pid() -> int:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(ended.stdout)


def test_this_process_runs_and_an_ended_one_is_gone() -> None:
    tag = own_tag()
    creator = creator_of_tag(tag)
    assert creator is not None and creator.here and not creator.gone
    _, start, host = tag.split("_")
    ended = creator_of_tag(f"{_ended_pid()}_{start}_{host}")
    assert ended is not None and ended.gone
    parent = creator_of_tag(f"{os.getppid()}_{start}_{host}")  # alive, but started before this process
    assert parent is not None and parent.gone


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the kernel's start record is read from /proc")
def test_the_start_in_a_tag_is_the_kernels_ticks_since_boot_not_the_wall_clock() -> None:
    """psutil's create_time is boot time + ticks, and the boot time moves with the clock; the ticks do not."""
    start = own_tag().split("_")[1]
    with open("/proc/self/stat", "rb") as stat:
        ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
    assert start == "m" + _base36(ticks)


@pytest.mark.parametrize(("off_by", "gone"), [(0, False), (1, False), (-2, False), (60, True)])
def test_an_earlier_versions_wall_clock_start_is_matched_within_the_clocks_slack(off_by: int, gone: bool) -> None:
    host = own_tag().split("_")[2]
    seconds = int(psutil.Process().create_time()) + off_by
    creator = creator_of_tag(f"{os.getpid()}_{_base36(seconds)}_{host}")
    assert creator is not None and creator.gone is gone
