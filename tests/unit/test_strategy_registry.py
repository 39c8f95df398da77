"""A strategy is its module and its entry point: the registry reads the entry points only, ``-S all``
takes in every built-in, and a bundled scenario expects of each what the strategy declares against
the scenario's kind of bug, so no scenario names it."""

from __future__ import annotations

from importlib.metadata import entry_points

from race_harness.scenario import get_scenario, scenario_names
from race_harness.strategies import all_specs, available, get_strategy
from race_harness.strategies.registry import APP, BUILTIN_PREFIX, ENTRY_POINT_GROUP


def _builtins() -> list[str]:
    return [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value.startswith(BUILTIN_PREFIX)]


def test_the_registry_is_the_entry_points() -> None:
    assert sorted(available()) == sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def test_all_takes_in_every_built_in_but_the_applications_own() -> None:
    named = {spec.partition(":")[0] for spec in all_specs()}
    assert named == set(_builtins()) - {APP}


def test_every_built_in_says_what_it_does_against_each_kind_of_bug() -> None:
    for spec in all_specs():
        strategy = get_strategy(spec)
        assert strategy.expected_against("clobbered-field") in ("lost", "none"), spec
        assert strategy.expected_against("lost-increment") in ("lost", "none"), spec


def test_a_bundled_scenario_of_a_kind_of_bug_expects_something_of_every_built_in() -> None:
    kinds = [get_scenario(n) for n in scenario_names() if get_scenario(n).bug is not None]
    assert kinds, "no bundled scenario names its kind of bug"
    for scenario in kinds:
        for spec in all_specs():
            assert scenario.expectation(get_strategy(spec)) in ("lost", "none"), (scenario.name, spec)
