"""Regression tests of an APPLICATION's own update code (tests/example_app), not the built-in strategies.

This is what the README shows users: wrap your repository's save function as a strategy and let the
plugin's ``race_runner`` drive concurrent requests through it on a real database (the ``race_db``
ini key / ``--race-db``). The first test is the README example, line for line.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from race_harness import Conflict, Saved, Strategy, get_scenario
from race_harness.explore import assert_no_lost_updates, schedules
from race_harness.model import is_kv, kv_key
from race_harness.schedule import Schedule
from tests.example_app import images


class UpdateImage(Strategy):  # the application's fix: only the changes, under a version check
    name = "app-update-image"

    def save(self, conn, tables, snapshot, intent, now):
        changes = {f: v for f, v in intent.sets.items() if not is_kv(f)}
        props = {kv_key(f): v for f, v in intent.sets.items() if is_kv(f)}
        ok = images.update_image(conn, snapshot.entity, changes, props, seen_version=snapshot.version)
        return Saved(dict(intent.sets)) if ok else Conflict()


@pytest.mark.race(expect="none")
def test_concurrent_image_updates_lose_nothing(race_runner):
    race_runner.stress("glance_image_update", UpdateImage())


class SaveWholeImage(Strategy):
    """The application's buggy save: the image object it loaded, changed, written back whole."""

    name = "app-save-image"

    def save(self, conn, tables, snapshot, intent, now):
        target = intent.apply(snapshot.state)
        image = images.Image(
            snapshot.entity,
            {f: v for f, v in target.items() if not is_kv(f)},
            {kv_key(f): v for f, v in target.items() if is_kv(f)},
        )
        images.save_image(conn, image)
        return Saved({**dict(target), **{f: None for f in snapshot.state if f not in target}})


@pytest.mark.race(expect="lost")
def test_the_whole_object_save_is_caught(race_runner):
    race_runner.stress("glance_image_update", SaveWholeImage())
    race_runner.schedule("A.read B.read A.write B.write", "glance_image_update", SaveWholeImage())


GLANCE = get_scenario("glance_image_update")


@pytest.mark.race(expect="none")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=schedules(GLANCE, UpdateImage()))
@example(schedule=Schedule.parse("A.read B.read A.write B.write"))
@example(schedule=Schedule.parse("A.read B.read A.write B.write A.commit B.commit"))
def test_every_interleaving_of_the_fix_loses_nothing(race_runner, schedule):
    assert_no_lost_updates(race_runner.schedule(schedule, GLANCE, UpdateImage()))
