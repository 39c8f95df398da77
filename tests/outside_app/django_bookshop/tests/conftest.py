"""The pytest-django recipe: a race test unblocks Django's database access (the harness's sessions
run the application's code on threads of their own) and puts the alias back when it ends, so
pytest-django's own test database is there again for the tests after it and for its teardown."""

import pytest

from tests import races


@pytest.fixture
def races_runner(race_runner, django_db_blocker):
    with django_db_blocker.unblock():
        try:
            yield race_runner
        finally:
            race_runner.close()  # the scratch database is dropped while Django may still reach it
            races.DATABASE.restore()
