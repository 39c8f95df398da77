"""The service's lost-update regression tests through race-harness's plugin: the naive PATCH loses a
concurrent change to the other field, the If-Match PATCH with a retrying client loses nothing while
its requests raced (its 412s are its conflicts)."""

import pytest

from tests import races

PAIR = "A=set_title B=set_body A.read B.read A.write B.write"
BURST = {"writers": 8, "ops": 8, "think_ms": 50}


@pytest.mark.race(expect="lost")
def test_the_naive_patch_loses_the_interleaved_pair(race_runner):
    race_runner.schedule(PAIR, races.PATCH)


@pytest.mark.race(expect="lost")
def test_exploring_the_naive_patch_finds_the_loss(race_runner):
    race_runner.explore(races.PATCH)


@pytest.mark.race(expect="none")
def test_the_if_match_patch_survives_the_interleaved_pair(race_runner):
    race_runner.schedule(PAIR, races.IF_MATCH)


@pytest.mark.race(expect="none")
def test_the_if_match_patch_loses_nothing_under_stress(race_runner):
    race_runner.stress(races.IF_MATCH, **BURST)
