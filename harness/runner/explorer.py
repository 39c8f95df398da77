"""Systematic exploration of statement-level schedules, with partial-order reduction.

For 2 or 3 sessions, each calling an application function, the explorer runs interleavings of the
statements they send (:mod:`race_harness.runner.statement_steps`) until one loses an update or
every one that differs has run, within a count and a time bound:

1. **The probe.** Every session sends its first statement, then the last session runs to its end,
   then the one before it, and so on: ``A.1 B.1 B.2 ... A.2 ...``. Every session has read before
   any has written, the shape of every lost update the two seed bugs show, so it is the likeliest
   counterexample; it also records each session's statements (labels and footprints).
2. **The reduction.** Two steps of different sessions commute when neither writes a table the other
   touches (:func:`race_harness.statements.commutes`; a COMMIT carries its transaction's
   footprint). Interleavings that order every pair of non-commuting steps the same way are one
   Mazurkiewicz trace and end the same way, so one of each is run and the rest are counted as
   pruned. The key of a trace is the order of its non-commuting pairs.
3. **The order.** Traces are tried with the fewest context switches first (the smallest schedules,
   as CHESS's preemption bounding does), serial orders last: a serial execution cannot lose an
   update to a race, but it is run too, in case the application loses one on its own.

Blocking is the database's: a step seen waiting in the lock view is postponed exactly as in a
written schedule, and the order that actually ran is what is printed, as a schedule of statement
labels that ``race-harness replay`` runs the same way every time.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from race_harness.errors import UsageError
from race_harness.runner.schedule import ScheduleResult, ScheduleRunner
from race_harness.scenario import Scenario
from race_harness.schedule import SESSION_LETTERS, Schedule, Step
from race_harness.statements import Statement, commutes, transaction_footprints
from race_harness.strategies import get_strategy

DEFAULT_MAX_INTERLEAVINGS = 1000
DEFAULT_MAX_SECONDS = 120.0
MAX_SESSIONS = 3


@dataclass
class Exploration:
    """What an exploration ran and found."""

    scenario: str
    database: str
    operations: dict[str, str]  # session letter -> operation
    explored: int = 0  # interleavings run
    pruned: int = 0  # interleavings not run: equivalent to one that ran
    total: int = 0  # interleavings of every session's statements (the longest each was seen to send)
    # runs planned before a session was seen to send more statements (a refused save's other path, a
    # retry loop's attempts): their orders are not among the total's, which grew; run_of_total ran
    extra: int = 0
    complete: bool = False  # every trace ran (not stopped by a bound, nor by the first loss)
    first_lost_at: int = 0  # which interleaving (1 is the probe) lost an update first
    stopped: str | None = None  # which bound stopped it
    first_lost: ScheduleResult | None = None
    results: list[ScheduleResult] = field(default_factory=list)
    seconds: float = 0.0
    statements: dict[str, list[str]] = field(default_factory=dict)  # each session's labels, from the probe
    progress: Callable[[Exploration], None] | None = field(default=None, repr=False)
    # seconds the application's schema set-up and configuration took, so far: counted apart, in no bound
    setup: Callable[[], float] = field(default=lambda: 0.0, repr=False)
    setup_s: float = 0.0

    started: float = field(default_factory=time.monotonic, repr=False)
    ran: set[tuple[str, ...]] = field(default_factory=set, repr=False)  # the orders run: the probe's, then as planned

    @property
    def run_of_total(self) -> int:
        """Interleavings of the total that ran: explored, less the runs outside it (``extra``)."""
        return self.explored - self.extra

    @property
    def not_reached(self) -> int:
        """Interleavings of the total neither run nor pruned: what a bound or the first loss left."""
        return max(self.total - self.run_of_total - self.pruned, 0)

    @property
    def seconds_so_far(self) -> float:
        """Seconds spent exploring: the set-up (migrations, configuration) is not the exploration's."""
        return time.monotonic() - self.started - self.setup()

    @property
    def contention(self) -> int:
        return sum(r.result.contention for r in self.results)

    @property
    def verdict(self) -> str:
        """lost-updates with a counterexample; no-lost-updates only when every trace ran with contention."""
        if self.first_lost is not None:
            return "lost-updates"
        if self.complete and self.contention and not any(r.harness_errors or r.canceled for r in self.results):
            return "no-lost-updates"
        return "inconclusive"

    def replay_command(self, repeat: int | None = 20) -> str | None:
        return self.first_lost.replay_command(repeat=repeat) if self.first_lost is not None else None

    def summary(self) -> list[str]:
        ops = ", ".join(f"{s}={op}" for s, op in self.operations.items())
        setup = f" (and {self.setup_s:.2f} s of schema set-up)" if self.setup_s >= 0.01 else ""
        parts = [f"{self.pruned} pruned as equivalent"]
        if self.not_reached:
            parts.append(f"{self.not_reached} not reached")
        if self.extra:
            parts.append(f"and {self.extra} run before a session was seen to send more")
        lines = [
            f"explored {self.run_of_total} of {self.total} interleavings ({', '.join(parts)}) "
            f"of {self.scenario} [{ops}] on {self.database} in {self.seconds:.2f} s{setup}"
        ]
        for letter, labels in self.statements.items():
            lines.append(f"  session {letter}: {len(labels)} statements: {' '.join(labels)}")
        if self.first_lost is not None:
            r = self.first_lost.result
            lines.append(f"lost update in interleaving {self.first_lost_at}: {self.first_lost.schedule}")
            lines += [f"- {a.explanation}" for a in (r.failures or r.anomalies)[:2]]
            if self.complete:
                losing = sum(r.lost for r in self.results)
                lines.append(f"every distinct interleaving ran (--all): {losing} of {self.explored} lost an update")
            lines.append(f"replay it with:\n  {self.replay_command()}")
        elif self.complete:
            raced = "with contention" if self.contention else "but no interleaving had contention"
            lines.append(f"no lost update in any of the {self.explored} distinct interleavings, {raced}")
        else:
            lines.append(f"no lost update in the {self.explored} interleavings run; stopped by the {self.stopped}")
        return lines


def _multinomial(lengths: Sequence[int]) -> int:
    out, seen = 1, 0
    for n in lengths:
        seen += n
        out *= math.comb(seen, n)
    return out


def _interleavings(lengths: dict[str, int], switches: int) -> Iterator[list[str]]:
    """Every interleaving of the sessions' steps (each session's own order kept) with exactly
    ``switches`` changes of session, in lexicographic order of session letters."""
    letters = sorted(lengths)
    left = dict(lengths)
    total = sum(lengths.values())
    out: list[str] = []

    def go(last: str | None, budget: int) -> Iterator[list[str]]:
        if len(out) == total:
            if budget == 0:
                yield list(out)
            return
        for s in letters:
            if not left[s]:
                continue
            cost = 1 if last is not None and s != last else 0
            if cost > budget:
                continue
            left[s] -= 1
            out.append(s)
            yield from go(s, budget - cost)
            out.pop()
            left[s] += 1

    yield from go(None, switches)


class _Traces:
    """Which interleavings are one trace: the order of every pair of non-commuting steps."""

    def __init__(self, statements: dict[str, list[Statement]]) -> None:
        self.lengths = {s: len(sts) for s, sts in statements.items()}
        footprints = {s: transaction_footprints(sts) for s, sts in statements.items()}
        letters = sorted(statements)
        self.pairs: list[tuple[tuple[str, int], tuple[str, int]]] = []
        for i, p in enumerate(letters):
            for q in letters[i + 1 :]:
                for a, x in enumerate(footprints[p]):
                    for b, y in enumerate(footprints[q]):
                        if not commutes(x, y):
                            self.pairs.append(((p, a), (q, b)))

    def key(self, order: Sequence[str]) -> tuple[bool, ...] | None:
        """The trace of an order of session letters; None when it does not fit the profile."""
        counts = {s: 0 for s in self.lengths}
        position: dict[tuple[str, int], int] = {}
        for at, s in enumerate(order):
            if s not in counts:
                return None
            position[s, counts[s]] = at
            counts[s] += 1
        if counts != self.lengths:
            return None
        return tuple(position[x] < position[y] for x, y in self.pairs)


class _Paths:
    """The runs so far, grouped by the path each session took (the statements it sent). A run is
    decided by the order of its statements, so an order that, cut to the lengths of a path, is one
    trace with a run of that path runs as that run did: the steps past those lengths are never sent
    (a retry after a refusal that did not happen, the other branch of an ``if``). This is what keeps a
    retry loop from multiplying the interleavings: its attempts interleaved with a session that has
    already finished are all one run."""

    def __init__(self, letters: Sequence[str]) -> None:
        self.letters = list(letters)
        self._runs: dict[tuple[tuple[Statement, ...], ...], tuple[_Traces, set[tuple[bool, ...]]]] = {}

    def add(self, result: ScheduleResult) -> None:
        sent = {s: result.statements.get(s, []) for s in self.letters}
        path = tuple(tuple(sent[s]) for s in self.letters)
        if path not in self._runs:
            self._runs[path] = (_Traces(sent), set())
        traces, keys = self._runs[path]
        key = traces.key([st.session for st in result.executed])
        if key is not None:
            keys.add(key)

    def covers(self, order: Sequence[str]) -> bool:
        for traces, keys in self._runs.values():
            if not keys:
                continue
            left = dict(traces.lengths)
            cut = []
            for s in order:
                if left[s]:
                    left[s] -= 1
                    cut.append(s)
            if traces.key(cut) in keys:
                return True
        return False


def explore(
    runner: ScheduleRunner,
    scenario: Scenario,
    operations: Sequence[str] | None = None,
    *,
    sessions: int = 2,
    max_interleavings: int = DEFAULT_MAX_INTERLEAVINGS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    stop_on_first: bool = True,
    progress: Callable[[Exploration], None] | None = None,
) -> Exploration:
    """Explore the interleavings of ``sessions`` calls of the scenario's operations (``operations``
    names one per session; by default the scenario's first two, or its only one for each).
    ``progress`` is called after every interleaving run."""
    if not scenario.is_app:
        raise UsageError(
            f"explore needs an application's own functions (operation(...)) but scenario {scenario.name!r} runs a "
            "strategy's phases; run schedules of read, write, commit for it instead"
        )
    names = list(scenario.schedule_operations)
    ops = list(operations) if operations else [names[i % len(names)] for i in range(max(sessions, 2))]
    if not 2 <= len(ops) <= MAX_SESSIONS:
        raise UsageError(f"expected 2 to {MAX_SESSIONS} sessions to explore but got {len(ops)}")
    if not max_interleavings >= 1:
        raise UsageError(f"expected at least 1 interleaving as the bound but got {max_interleavings!r}")
    if not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise UsageError(f"expected a positive, finite number of seconds as the bound but got {max_seconds!r}")
    letters = list(SESSION_LETTERS[: len(ops)])
    assignment = dict(zip(letters, ops, strict=True))
    strategy = get_strategy("app")
    before = runner.setup_seconds
    found = Exploration(
        scenario.name, runner.backend.label, assignment, progress=progress, setup=lambda: runner.setup_seconds - before
    )
    strict, runner.strict_statements = runner.strict_statements, False
    bounds = (max_interleavings, max_seconds)
    traces: _Traces | None = None
    try:
        probe = Schedule(tuple(Step(s, "1") for s in letters), tuple(sorted(assignment.items())))
        first = runner.run(probe, scenario, strategy, finish_order=letters[::-1])
        paths = _Paths(letters)
        paths.add(first)
        profile = {s: first.statements.get(s, []) for s in letters}
        traces = _Traces(profile)
        if not _record(found, first) and stop_on_first:
            return _profiled(found, profile)
        while True:  # once more from the start when a run shows a session sending more than profiled
            seen = {k for r in found.results if (k := traces.key([st.session for st in r.executed])) is not None}
            grown = _explore_traces(found, runner, scenario, traces, seen, paths, assignment, bounds, stop_on_first)
            if grown is None:
                break
            for s, sent in grown.items():
                if len(sent) > len(profile[s]):
                    profile[s] = sent
            traces = _Traces(profile)
            found.pruned = 0
        _profiled(found, profile)
        if found.stopped or (found.first_lost is not None and stop_on_first):
            return found
        found.complete = True  # every trace ran (with --all, also after a loss)
        return found
    finally:
        runner.strict_statements = strict
        found.seconds, found.setup_s = found.seconds_so_far, found.setup()
        if traces is not None:
            found.extra = found.explored - sum(1 for o in found.ran if traces.key(o) is not None)
        if found.complete:
            found.pruned = found.total - found.run_of_total


def _profiled(found: Exploration, profile: dict[str, list[Statement]]) -> Exploration:
    found.statements = {s: [st.label for st in sts] for s, sts in profile.items()}
    found.total = _multinomial([len(sts) for sts in profile.values()])
    return found


def _explore_traces(
    found: Exploration,
    runner: ScheduleRunner,
    scenario: Scenario,
    traces: _Traces,
    seen: set[tuple[bool, ...]],
    paths: _Paths,
    assignment: dict[str, str],
    bounds: tuple[int, float],
    stop_on_first: bool,
) -> dict[str, list[Statement]] | None:
    """Run one interleaving of each trace not seen yet, fewest switches first, serial orders last.
    Returns a run's statements when a session sent more than the profile has (explore again), else
    None (done, stopped by a bound, or a loss found)."""
    strategy = get_strategy("app")
    lengths = traces.lengths
    serial: list[list[str]] = []

    def orders() -> Iterator[list[str]]:
        for switches in range(len(lengths) - 1, sum(lengths.values())):
            for order in _interleavings(lengths, switches):
                if _serial(order):
                    serial.append(order)
                else:
                    yield order
        yield from serial

    for order in orders():
        key = traces.key(order)
        assert key is not None, "an order made from the profile fits it"
        if key in seen or paths.covers(order):
            if tuple(order) not in found.ran:  # one that ran is explored, not pruned
                found.pruned += 1
            continue
        stop = _bound(found, *bounds)
        if stop:
            found.stopped = stop
            return None
        result = runner.run(_schedule(order, assignment), scenario, strategy)
        paths.add(result)
        seen.add(key)
        if (ran := traces.key([st.session for st in result.executed])) is not None:
            seen.add(ran)
        if not _record(found, result, order) and stop_on_first:
            return None
        if any(len(sent) > lengths[s] for s, sent in result.statements.items()):
            return result.statements
    return None


def _serial(order: Sequence[str]) -> bool:
    return sum(1 for a, b in itertools.pairwise(order) if a != b) == len(set(order)) - 1


def _schedule(order: Sequence[str], assignment: dict[str, str]) -> Schedule:
    counts: dict[str, int] = {}
    steps = []
    for s in order:
        counts[s] = counts.get(s, 0) + 1
        steps.append(Step(s, str(counts[s])))
    return Schedule(tuple(steps), tuple(sorted(assignment.items())))


def _bound(found: Exploration, max_interleavings: int, max_seconds: float) -> str | None:
    if found.explored >= max_interleavings:
        return f"count bound ({max_interleavings} interleavings)"
    if found.seconds_so_far >= max_seconds:
        return f"time bound ({max_seconds:g} s)"
    return None


def _record(found: Exploration, result: ScheduleResult, order: Sequence[str] | None = None) -> bool:
    """Count one run of the planned ``order`` (the probe's: as it ran); False when it lost an update
    (the exploration's answer)."""
    found.explored += 1
    found.ran.add(tuple(order) if order is not None else tuple(st.session for st in result.executed))
    ran = replace(result, schedule=result.executed_schedule)  # what ran, by label: the replayable form
    found.results.append(ran)
    if found.progress is not None:
        found.progress(found)
    if result.lost and found.first_lost is None:
        found.first_lost, found.first_lost_at = ran, found.explored
        return False
    return True


explore_statements = explore  # the name the package exports (race_harness.explore is the Hypothesis module)

__all__ = ["DEFAULT_MAX_INTERLEAVINGS", "DEFAULT_MAX_SECONDS", "Exploration", "explore", "explore_statements"]
