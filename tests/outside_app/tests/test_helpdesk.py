"""helpdesk's lost-update tests: an application that connects itself (a module-level engine that
``db.configure(url)`` points at the scratch database), its schema made by its own Alembic
migrations, driven at three layers of one request path: the API handler, the domain object's
``save()``, the DB function alone. The report shows where the update is lost: handler and domain
lose it (each writes back every field it loaded), the DB function alone does not."""

from __future__ import annotations

import pytest

from tests import races
from tests.test_races import BURST, LOST_PAIR, SEEDS

NAIVE = [races.HANDLER, races.DOMAIN]
SAFE = [races.DB_LAYER, races.HANDLER_CHECKED, races.DOMAIN_CHECKED]
TWO = "A=retitle B=restatus "


@pytest.mark.race(expect="lost")
@pytest.mark.parametrize("scenario", NAIVE, ids=lambda s: s.name)
def test_layer_loses_updates_under_stress(race_runner, scenario):
    for seed in range(SEEDS):
        if race_runner.stress(scenario, seed=seed, **BURST).result.verdict == "lost-updates":
            break


@pytest.mark.race(expect="none")
@pytest.mark.parametrize("scenario", SAFE, ids=lambda s: s.name)
def test_layer_loses_nothing_under_stress(race_runner, scenario):
    race_runner.stress(scenario, **BURST)


@pytest.mark.race(expect="lost")
@pytest.mark.parametrize("scenario", NAIVE, ids=lambda s: s.name)
def test_layer_loses_the_interleaved_pair(race_runner, scenario):
    race_runner.schedule(TWO + LOST_PAIR, scenario)


@pytest.mark.race(expect="none")
@pytest.mark.parametrize("scenario", SAFE, ids=lambda s: s.name)
def test_layer_survives_the_interleaved_pair(race_runner, scenario):
    race_runner.schedule(TWO + LOST_PAIR, scenario)
