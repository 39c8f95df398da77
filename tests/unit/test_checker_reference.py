"""The columnar checker reaches exactly the verdict, figures and evidence of the reference checker.

``tests/reference_checker`` is the object-at-a-time checker the columnar one replaced, kept as the
oracle's executable specification. Histories come from the benchmark's simulation of every scenario
under full-row and version OCC, then Hypothesis bends them: outcomes flipped to ``fail``/``info``,
operations left uncompleted, final values swapped for another write's, the initial one, an invented
one, or removed, so every rule (lost, concurrent, legally removed, unexplained, failed-but-applied,
counters, same-read pairs, every invariant) is exercised on both sides.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.histories import generate
from race_harness.checkers import Predicate, Token, check
from race_harness.events import Operation
from race_harness.history import History
from race_harness.model import State
from race_harness.scenario import get_scenario, scenario_names
from tests.reference_checker import check as reference_check


def _coarse(t: int | None, tick: int) -> int | None:
    return None if t is None else t // tick * tick


def _bend(ops: list[Operation], final: dict[int, State], rng: random.Random, rate: float) -> list[Operation]:
    out = []
    tick = rng.choice([1, 100_000, 1_000_000])  # a coarse clock makes ties between starts and ends
    down = rng.random() < 0.5  # some counters are decremented too: changes in both directions
    for op in ops:
        op = replace(
            op,
            start=op.start // tick * tick,
            end=_coarse(op.end, tick),
            read_at=_coarse(op.read_at, tick),
            write_at=_coarse(op.write_at, tick),
        )
        if down and op.intent and op.intent.increments and rng.random() < 0.4:
            op = replace(op, intent=replace(op.intent, increments={f: -d for f, d in op.intent.increments.items()}))
        roll = rng.random()
        if op.role == "writer" and roll < rate:
            op = replace(op, type="info", end=None if rng.random() < 0.5 else op.end, error="bent")
        elif op.role == "writer" and roll < 2 * rate:
            op = replace(op, type="fail", reason=rng.choice(["conflict", "deadlock", None]))
        elif roll < 2.5 * rate:
            op = replace(op, attempts=rng.randint(1, 4))
        out.append(op)
    values = [(f, v) for op in ops if op.intent for f, v in op.intent.sets.items()]
    for state in final.values():
        for fld in list(state):
            roll = rng.random()
            if roll < rate and values:
                other, value = rng.choice(values)
                state[other] = value
            elif roll < 2 * rate:
                state[fld] = "invented"
            elif roll < 3 * rate:
                del state[fld]
    return out


def _same(
    ops: list[Operation] | History,
    reference_ops: list[Operation],
    initial: dict[int, State],
    final: dict[int, State],
    token: Token | None,
    invariants: dict[str, Predicate] | None = None,
) -> None:
    got = check(ops, initial, final, token=token, invariants=invariants)
    want = reference_check(reference_ops, initial, final, token=token, invariants=invariants)
    assert got.checker_errors == want.checker_errors
    assert got.stats == want.stats
    assert (got.verdict, got.lost_writes, got.acknowledged) == (want.verdict, want.lost_writes, want.acknowledged)
    assert got.anomalies == want.anomalies
    assert got.invariant_violations == want.invariant_violations


# declared invariants the generated states break now and then (an invented value, a counter past 3)
INVARIANTS: dict[str, dict[str, Predicate] | None] = {
    "none": None,
    "nothing invented": {"nothing invented": lambda s: "invented" not in s.values()},
    "small counter": {"n <= 3": lambda s: int(s.get("n", 0)) <= 3, "always": lambda s: True},
    "crashing": {"crashes": lambda s: 1 // 0},
}


def test_a_recorded_history_is_checked_from_its_own_columns() -> None:
    gen = generate(get_scenario("glance_image_update"), 3000, apply="full-row")
    _same(gen.history, gen.history.operations(), gen.initial, gen.final, None)


# Nova's metadata grows by a key per write, so its simulation is quadratic: a smaller history
@pytest.mark.parametrize(
    ("name", "apply", "size"),
    [
        ("glance_image_update", "full-row", 20_000),
        ("counter", "version-occ", 20_000),
        ("nova_server_metadata", "full-row", 2_000),
    ],
)
def test_large_histories_agree(name: str, apply: str, size: int) -> None:
    gen = generate(get_scenario(name), size, apply=apply)  # type: ignore[arg-type]
    _same(gen.history, gen.history.operations(), gen.initial, gen.final, "version")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(scenario_names()),
    apply=st.sampled_from(["full-row", "version-occ"]),
    size=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    token=st.sampled_from([None, "version", "updated_at"]),
    times=st.booleans(),
    invariants=st.sampled_from(sorted(INVARIANTS)),
)
def test_same_findings_as_the_reference(
    name: str, apply: str, size: int, seed: int, rate: float, token: Token | None, times: bool, invariants: str
) -> None:
    gen = generate(get_scenario(name), size, apply=apply, seed=seed, times=times)  # type: ignore[arg-type]
    rng = random.Random(seed)
    ops = _bend(gen.history.operations(), gen.final, rng, rate)
    rng.shuffle(ops) if rate == 0.3 else None  # the order given must not matter
    _same(ops, sorted(ops, key=lambda o: o.id), gen.initial, gen.final, token, INVARIANTS[invariants])
