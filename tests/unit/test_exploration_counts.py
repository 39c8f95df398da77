"""The counts an exploration prints add up: explored (of the total) + pruned + not reached = total."""

from __future__ import annotations

import pytest

from race_harness.runner.explorer import Exploration


@pytest.mark.parametrize(
    ("explored", "extra", "pruned", "total", "complete"),
    [(1, 0, 0, 252, False), (42, 6, 216, 252, True), (405, 7, 705_000, 705_432, False), (5, 0, 0, 495, False)],
)
def test_the_printed_counts_add_up(explored: int, extra: int, pruned: int, total: int, complete: bool) -> None:
    found = Exploration(
        "s", "db", {"A": "op", "B": "op"}, explored=explored, pruned=pruned, total=total, complete=complete, extra=extra
    )
    head = found.summary()[0]
    assert found.run_of_total + found.pruned + found.not_reached == total
    assert head.startswith(f"explored {explored - extra} of {total} interleavings ({pruned} pruned as equivalent")
    assert (f"{found.not_reached} not reached" in head) == (found.not_reached > 0)
    assert (f"and {extra} run before a session was seen to send more" in head) == (extra > 0)
    numbers = [int(w) for w in head.replace("(", " ").replace(",", " ").split() if w.isdigit()]
    assert numbers[0] + numbers[2] + (found.not_reached if found.not_reached else 0) == numbers[1]
