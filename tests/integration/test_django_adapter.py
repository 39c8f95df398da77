"""race_harness.django on a real Django site (``django_site``): a model with every column kind the
adapter reads (a timestamp Django sets itself, a decimal, a JSON document) and a soft-deleted child
model, driven by Django's own connections on every database; the alias put back afterwards; settings
that cannot be loaded and an alias that does not exist are one line naming the scenario."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from race_harness import RunConfig, ScheduleRunner, UsageError, get_strategy, run_cell
from race_harness.databases import Backend
from tests.cli import COMMAND

REPO = Path(__file__).resolve().parents[2]
APP = get_strategy("app")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The site set up in this process, its own database a SQLite file; its race declarations."""
    own = tmp_path_factory.mktemp("site") / "own.db"
    os.environ["DJANGO_SITE_DB"] = str(own)
    from race_harness import django as rh_django
    from tests.integration.django_site import races  # sets Django up

    yield races
    rh_django.configure().restore()


def test_a_django_model_loses_the_interleaved_pair_and_the_alias_is_put_back(site: Any, backend: Backend) -> None:
    from django.db import connections

    from tests.integration.django_site.models import Memo

    own = connections.settings["default"]["NAME"]
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=resubject B=rewrite A.read B.read A.write B.write", site.MEMOS, APP)
    transcript = "\n".join(out.transcript)
    assert out.result.verdict == "lost-updates", transcript
    # read as the harness reads them itself (a decimal; a JSON document Django loads and dumps itself),
    # so what each save wrote back of them is seen as written back as read
    assert transcript.count("score='1.5'") == 2 and transcript.count("""flags='{"a":1}'""") == 2, transcript
    site.MEMOS.configure.restore()
    assert connections.settings["default"]["NAME"] == own
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the site's own database, reached again after the scratch one went
    Memo.objects.create(subject="own")
    assert Memo.objects.count() == 1
    Memo.objects.all().delete()


def test_an_alias_django_does_not_have_is_one_line(site: Any, backend: Backend) -> None:
    with pytest.raises(UsageError) as err:
        run_cell(site.scenario("memos_elsewhere", alias="reports"), APP, backend, RunConfig(writers=2, ops=2))
    assert str(err.value).startswith("scenario 'memos_elsewhere': "), err.value
    assert "no alias 'reports'; expected one of: default" in str(err.value), err.value


def test_list_names_the_adapter() -> None:
    proc = subprocess.run(
        [*COMMAND, "list", "-v", "-s", "tests.integration.django_site.races:MEMOS"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the application connects itself through the adapter race_harness.django (Django " in proc.stdout
    assert "DATABASES['default'] follows the scratch database" in proc.stdout, proc.stdout
    assert "made by Django's migrate (DATABASES['default'])" in proc.stdout, proc.stdout


def test_settings_that_cannot_be_loaded_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "races.py").write_text(
        "from race_harness import django as rh_django\n"
        "rh_django.setup('bookshop_settings_missing')\n"
        "from bookshop.models import Book\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [*COMMAND, "run", "-s", "races.py:SCENARIO", "-d", "sqlite"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot load scenario 'races.py:SCENARIO': Django settings 'bookshop_settings_missing' could not be " \
        "loaded: ModuleNotFoundError" in lines[0], lines  # fmt: skip
    # nothing made: no database file, no report (Python's own bytecode cache of races.py is what any
    # import of it writes, unless PYTHONDONTWRITEBYTECODE is set)
    made = [p.name for p in tmp_path.iterdir() if p.name != "__pycache__"]
    assert made == ["races.py"], list(tmp_path.iterdir())
