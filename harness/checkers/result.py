"""What a checker returns: a verdict, the evidence behind it and the figures around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

Verdict = Literal["lost-updates", "no-lost-updates", "inconclusive"]
# anomaly kinds that mean an acknowledged update was lost
LOST_KINDS = frozenset({"lost-update", "counter-lost", "same-read-overwrite", "stale-write", "removed-child"})
# ... and the kinds that fail the verdict as a loss does (Jepsen's valid? false): a change applied
# twice, an invariant the scenario declares broken
FAILING_KINDS = LOST_KINDS | {"counter-duplicated", "broken-invariant"}
# which failing finding tells the story best, as the one example a report shows
EVIDENCE_ORDER = (
    "lost-update",
    "counter-lost",
    "stale-write",
    "removed-child",
    "same-read-overwrite",
    "counter-duplicated",
    "broken-invariant",
)


def headline(kinds: Sequence[str]) -> int | None:
    """The index of the finding a report shows as its example (by :data:`EVIDENCE_ORDER`), or None."""
    ranked = [(EVIDENCE_ORDER.index(k), i) for i, k in enumerate(kinds) if k in EVIDENCE_ORDER]
    return min(ranked)[1] if ranked else None


@dataclass(frozen=True)
class Anomaly:
    """One piece of evidence, with a plain-language explanation of why it is one (Elle's habit)."""

    # lost-update | counter-lost | counter-duplicated | same-read-overwrite | failed-write-applied
    # | unexplained-value | invariant:<name>
    kind: str
    entity: int
    field: str | None
    ops: tuple[int, ...]
    explanation: str


@dataclass
class Stats:
    writes: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    reads: int = 0
    conflicts: int = 0  # save attempts refused by the strategy or aborted by the database
    retries: int = 0
    fail_reasons: dict[str, int] = field(default_factory=dict)
    overlapping_write_pairs: int = 0  # pairs of writes to one entity whose intervals overlap (structural)
    # contention, measured: settled writes during which another write to their entity was acknowledged
    raced_writes: int = 0
    in_flight_p50: float = 0.0  # median writes to one entity in flight (itself included) as a write ended
    same_read_pairs: int = 0  # pairs of acknowledged writes that read the same version of an entity
    duration_s: float = 0.0
    ops_per_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    # acknowledged writes by latency: upper bound in ms ("inf" for the last bucket) -> count
    latency_histogram_ms: dict[str, int] = field(default_factory=dict)


@dataclass
class CheckResult:
    verdict: Verdict
    lost_writes: int  # acknowledged writes (or counter increments) whose effect is gone
    acknowledged: int
    anomalies: list[Anomaly]
    invariant_violations: list[Anomaly]
    stats: Stats
    checker_errors: list[str] = field(default_factory=list)
    # kinds of finding that fail the verdict besides FAILING_KINDS: those composed checkers declare
    failing_kinds: tuple[str, ...] = ()

    @property
    def failures(self) -> list[Anomaly]:
        """The findings that fail the verdict, in the order found (the first is the headline's)."""
        return [a for a in self.anomalies if a.kind in FAILING_KINDS or a.kind in self.failing_kinds]

    @property
    def contention(self) -> int:
        """The history's signs that the race had its chance (raced writes, refusals, same-read pairs):
        0 means no verdict of safety, the same rule as :func:`race_harness.checkers.contended`."""
        return self.stats.raced_writes + self.stats.conflicts + self.stats.same_read_pairs

    def to_json(self) -> dict[str, object]:
        return asdict(self)
