"""The flaw in the proposed Glance fix: optimistic concurrency on a whole-second ``updated_at``.

Writers fire in bursts that each fall inside one wall-clock second. On a whole-second column every
write of a burst stores the same ``updated_at``, so a writer that read it before another write of
the same second still passes ``WHERE updated_at = :seen``. The same bursts on a microsecond column
(``timestamp-occ:6``) and a version column lose nothing. Each session owns one slot.
"""

from __future__ import annotations

from race_harness.model import EntitySchema, FieldType, Intent
from race_harness.operations import WriteOp, WriterContext
from race_harness.scenario import NamedSchedule, Scenario, SecondBursts

SLOTS: dict[str, FieldType] = {f"slot_{i}": "text" for i in range(8)}
DOC_ID = 1


def next_write(ctx: WriterContext) -> WriteOp:
    slot = list(SLOTS)[ctx.session % len(SLOTS)]
    return WriteOp("set-slot", DOC_ID, Intent(sets={slot: ctx.unique()}))


SCENARIO = Scenario(
    name="same_second_timestamps",
    summary="timestamp OCC on a whole-second column passes two writes in one second; microseconds do not",
    schema=EntitySchema("documents", SLOTS),
    initial={DOC_ID: dict.fromkeys(SLOTS, "empty")},
    next_write=next_write,
    expected={"timestamp-occ:0": "lost", "timestamp-occ:6": "none", "version-occ": "none"},
    applicable=frozenset({"timestamp-occ:0", "timestamp-occ:6", "version-occ"}),
    pacer=SecondBursts,
    default_ops=48,
    operations={"set-slot": next_write},
    schedules={
        "same-second-pass": NamedSchedule(
            "A.read B.read A.write B.write",
            "timestamp-occ:0",
            "A's write stores the updated_at B read (same whole second), so B's WHERE updated_at = :seen passes "
            "and B writes A's slot back",
        )
    },
)
