"""bookshop's lost-update regression tests, through race-harness's plugin beside pytest-django.

The naive ``save()`` loses a concurrent change to another field, a stock count its deliveries and
sales, a tag set the tag added meanwhile; ``save(update_fields=...)``, ``select_for_update()`` in
``atomic()``, a version check that retries, ``F()`` and ``get_or_create`` lose nothing while their
requests raced. A plain pytest-django test runs beside them on its own test database.
"""

import pytest
from bookshop.models import Book

from tests import races

LOST_PAIR = "A.read B.read A.write B.write"
PAIRS = {"retitle": "A=retitle B=reblurb ", "receive": "A=receive B=sell ", "tag": ""}
BURST = {"writers": 8, "ops": 8, "think_ms": 50}


def _pair(scenario):
    return PAIRS[next(iter(scenario.operations))] + LOST_PAIR


@pytest.mark.race(expect="lost")
@pytest.mark.parametrize("scenario", races.NAIVE, ids=lambda s: s.name)
def test_naive_code_loses_the_interleaved_pair(races_runner, scenario):
    races_runner.schedule(_pair(scenario), scenario)


@pytest.mark.race(expect="none")
@pytest.mark.parametrize("scenario", races.FIXED, ids=lambda s: s.name)
def test_fixed_code_loses_nothing_under_stress(races_runner, scenario):
    races_runner.stress(scenario, **BURST)


@pytest.mark.race(expect="lost")
def test_exploring_the_naive_save_finds_the_loss(races_runner):
    races_runner.explore(races.SAVE)


@pytest.mark.django_db
def test_a_plain_django_test_keeps_its_own_database():
    Book.objects.create(title="kept")
    assert Book.objects.count() == 1
