"""A hot-row counter: read ``n``, add one, write it back.

All writers change the SAME field, so writing only dirty columns does not help: the new value is
still computed from a stale read. Only a check (or an atomic ``SET n = n + 1``) does.
"""

from __future__ import annotations

from race_harness.model import EntitySchema, Intent
from race_harness.operations import WriteOp, WriterContext
from race_harness.scenario import NamedSchedule, Scenario

COUNTER_ID = 1


def next_write(ctx: WriterContext) -> WriteOp:
    return WriteOp("increment", COUNTER_ID, Intent(increments={"n": 1}))


SCENARIO = Scenario(
    name="counter",
    summary="hot-row read-modify-write increments of one field; partial-update does not help",
    schema=EntitySchema("counters", {"label": "text", "n": "int"}),
    initial={COUNTER_ID: {"label": "page-views", "n": 0}},
    next_write=next_write,
    bug="lost-increment",  # what each strategy declares against this kind is what is expected of it
    operations={"increment": next_write},
    schedules={
        "lost-increment": NamedSchedule(
            "A.read B.read A.write B.write", "full-row", "A and B both read n = 0 and both write n = 1"
        )
    },
)
