"""The oracle never concludes more than the definite operations prove (Hypothesis).

Histories come from a simulated database: writes read a committed state, change it in memory and
write back the whole row or only what they changed, commit in order, and end acknowledged, refused
or with an unknown outcome. The simulation knows the truth of every unknown outcome (applied or
not); the checker sees the history with those outcomes hidden (``info``: no read, nothing written,
as the runner records a write whose connection died). Revealing the truth may only add findings:

- lost seen with outcomes hidden => lost with the truth, and every write it names lost is lost there
  too (a loss is never proven by an unknown write alone, nor by one that happens to have applied);
- none seen with outcomes hidden => every loss the truth shows is of a write whose outcome was
  hidden (an acknowledged write is never lost behind a "none");
- against the simulation itself: every write named lost was lost (its field ended with a value set
  before it committed: by the initial state or an earlier write), and an acknowledged value undone
  back to the field's initial value is always named (a checker that ignores the initial state as
  the final value's producer fails here, not only in literal tests).

The generator reaches every kind of finding, including a field clobbered back to its initial value
(a full-row write from the initial read), which a checker that ignores the initial state as a
producer misses; ``test_the_generator_reaches_every_kind_of_finding`` shows each kind is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from race_harness.checkers import CheckResult, check
from race_harness.checkers.lost_update import lost_kinds
from race_harness.events import Operation
from race_harness.model import Intent, Snapshot, State

INITIAL: State = {"a": "a0", "b": "b0", "kv:x": "x0", "n": 0}
# applied and acknowledged | applied, outcome unknown | not applied, unknown | refused
# | refused yet applied (a strategy that lies) | applied twice (a retry that double-applies)
OUTCOMES = ["ok", "ok", "ok", "info-applied", "info-lost", "fail", "fail-applied", "ok-twice"]


@dataclass(frozen=True)
class Planned:
    field: str  # "a", "b", "kv:x": set a unique value; "n": increment by 1
    full_row: bool  # write back every field read (Glance), else only the changed one
    read_back: int  # how many commits before its own the read missed (0: read the latest state)
    outcome: str


plans = st.lists(
    st.builds(
        Planned,
        st.sampled_from(["a", "b", "kv:x", "n"]),
        st.booleans(),
        st.integers(0, 3),
        st.sampled_from(OUTCOMES),
    ),
    min_size=2,
    max_size=10,
)


@dataclass
class Simulated:
    hidden: list[Operation]  # what the checker sees: unknown outcomes as info
    truth: list[Operation]  # the same history with every outcome known
    hidden_ids: set[int]
    final: State
    truly_lost: set[int]  # applied writes whose field ended with an older value: their effect is gone
    undone_to_initial: set[int]  # acknowledged writes whose field is back at its initial value


def simulate(plan: list[Planned], corrupt: bool = False) -> Simulated:
    states: list[State] = [dict(INITIAL)]  # the committed states, in commit order
    applied_writes: list[tuple[int, int, int, dict[str, object]]] = []  # id, commit index, state read, written
    hidden: list[Operation] = []
    truth: list[Operation] = []
    hidden_ids: set[int] = set()
    for i, p in enumerate(plan):
        seen = max(0, len(states) - 1 - p.read_back)  # the committed state it read
        read = states[seen]
        # times in ns: the commit that made state k at 100 k + 50 (+ the write's index, to be distinct);
        # a read after the commit of the state it saw and before the next one
        start = 100 * seen + 60 + i
        commit = 100 * len(states) + 50 + i
        intent = Intent(increments={"n": 1}) if p.field == "n" else Intent(sets={p.field: f"{p.field}{i + 1}"})
        target = intent.apply(read)
        written = dict(target) if p.full_row else {k: v for k, v in target.items() if read.get(k) != v}
        applied = p.outcome in ("ok", "info-applied", "fail-applied", "ok-twice")
        if applied:
            applied_writes.append((i, len(states), seen, written))
            new = {**states[-1], **written}
            if p.outcome == "ok-twice" and p.field == "n":
                new["n"] = int(new["n"]) + 1  # type: ignore[call-overload]
            states.append(new)
        known = "ok" if p.outcome in ("ok", "info-applied", "ok-twice") else "fail"
        snapshot = Snapshot(1, dict(read), seen + 1, None)
        op = Operation(
            id=i, process=i, role="writer", name="update", entity=1, type=known, start=start, end=commit + 10,  # type: ignore[arg-type]
            intent=intent, read=snapshot, written=written if known == "ok" else {},
            reason=None if known == "ok" else "conflict",
        )  # fmt: skip
        truth.append(op)
        if p.outcome.startswith("info"):
            hidden_ids.add(i)
            hidden.append(replace(op, type="info", read=None, written={}, reason=None, error="connection lost"))
        else:
            hidden.append(op)
    final = dict(states[-1])
    if corrupt:
        final["b"] = "garbage"  # a value no write produced
    truly_lost, undone = set(), set()
    commit_of = {i: k for i, k, _, _ in applied_writes}
    for i, commit_k, _, written in applied_writes:
        fld = plan[i].field
        if fld == "n" or final[fld] == written[fld]:
            continue
        # values are unique: the final one was first set by the initial state or by write j (f"{fld}{j + 1}")
        value = str(final[fld])
        producer = -1 if value == INITIAL[fld] else int(value.removeprefix(fld)) - 1 if value != "garbage" else None
        if producer == -1 or (producer is not None and commit_of.get(producer, commit_k) < commit_k):
            truly_lost.add(i)  # the final value is older than this write: its effect is gone, unseen
        if producer == -1 and truth[i].type == "ok" and i not in hidden_ids:
            undone.add(i)
    return Simulated(hidden, truth, hidden_ids, final, truly_lost, undone)


def _lost(result: CheckResult) -> list[tuple[str, tuple[int, ...]]]:
    return [(a.kind, a.ops) for a in result.anomalies if a.kind in lost_kinds()]


def _verdicts(sim: Simulated) -> tuple[CheckResult, CheckResult]:
    initial = {1: dict(INITIAL)}
    return check(sim.hidden, initial, {1: sim.final}), check(sim.truth, initial, {1: sim.final})


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(plans, st.booleans())
def test_hidden_outcomes_never_prove_more_than_the_truth(plan: list[Planned], corrupt: bool) -> None:
    sim = simulate(plan, corrupt)
    seen, truth = _verdicts(sim)
    for result in (seen, truth):  # sound against the simulation itself: nothing named lost that was not
        named = {a.ops[0] for a in result.anomalies if a.kind == "lost-update"}
        assert named <= sim.truly_lost, (named, sim.truly_lost)
    # complete where the final state alone proves it: an acknowledged value undone back to the initial one
    lost_seen = {a.ops[0] for a in seen.anomalies if a.kind == "lost-update"}
    assert sim.undone_to_initial <= lost_seen, (sim.undone_to_initial, seen.anomalies)
    if seen.verdict == "lost-updates":
        assert truth.verdict == "lost-updates", (_lost(seen), truth.anomalies)
        lost_seen = {a.ops[0] for a in seen.anomalies if a.kind == "lost-update"}
        lost_truth = {a.ops[0] for a in truth.anomalies if a.kind == "lost-update"}
        assert not lost_seen & sim.hidden_ids, "an unknown write was counted lost"
        assert lost_seen <= lost_truth | _overwritten_pairs(truth), (lost_seen, lost_truth)
        assert seen.lost_writes <= truth.lost_writes
    if seen.verdict == "no-lost-updates":
        for kind, ops in _lost(truth):
            if kind == "lost-update":
                assert ops[0] in sim.hidden_ids, f"acknowledged op {ops[0]} lost behind a 'none'"
            elif kind == "same-read-overwrite":
                assert set(ops) & sim.hidden_ids, f"acknowledged ops {ops} overwrote each other behind a 'none'"
            else:
                pytest.fail(f"{kind} {ops} behind a 'none'")


def _overwritten_pairs(result: CheckResult) -> set[int]:
    """Writes the truth reports as overwritten from the same read: lost too, named differently."""
    return {a.ops[0] for a in result.anomalies if a.kind == "same-read-overwrite"}


KINDS = ["lost-update", "counter-lost", "counter-duplicated", "same-read-overwrite", "failed-write-applied"]


@pytest.mark.parametrize("kind", [*KINDS, "unexplained-value", "clobbered-to-initial"])
def test_the_generator_reaches_every_kind_of_finding(kind: str) -> None:
    def reaches(args: tuple[list[Planned], bool]) -> bool:
        sim = simulate(*args)
        seen, _ = _verdicts(sim)
        if kind == "clobbered-to-initial":  # an acknowledged write undone by a write-back of the initial value
            return sim.final.get("a") == "a0" and any(
                a.kind == "lost-update" and a.field == "a" for a in seen.anomalies
            )
        return any(a.kind == kind for a in seen.anomalies)

    found = find(st.tuples(plans, st.booleans()), reaches, settings=settings(max_examples=5000, database=None))
    assert reaches(found)
