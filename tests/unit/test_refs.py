"""How scenarios and strategies are named in the commands the harness prints: by the name or import
path they were found by, and a project's own objects by an import path that loads them again."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from race_harness import Strategy, get_scenario, get_strategy
from race_harness.errors import UsageError
from race_harness.refs import is_import_path, load_ref, ref_of
from race_harness.strategies.full_row import FullRow
from race_harness.strategies.registry import strategy_ref

# a project's own scenario, derived from a bundled one: it must never be named like the original
TALLY = replace(get_scenario("counter"), name="tally")


class OwnSave(FullRow):
    """A strategy registered nowhere."""

    name = "own-save"


def test_found_objects_keep_the_text_they_were_found_by() -> None:
    assert get_scenario("counter").ref == "counter"
    assert strategy_ref(get_strategy("timestamp-occ:0")) == "timestamp-occ:0"
    assert get_scenario("counter").with_params({}).ref == "counter"


def test_a_projects_own_objects_are_named_by_an_import_path_that_loads_them() -> None:
    assert TALLY.ref == f"{__name__}:TALLY"
    assert strategy_ref(OwnSave()) == f"{__name__}:OwnSave"
    assert load_ref(TALLY.ref, "scenario") is TALLY
    assert strategy_ref(get_strategy(strategy_ref(OwnSave()))) == f"{__name__}:OwnSave"


def test_an_unkept_object_falls_back_to_its_name() -> None:
    assert replace(TALLY, name="nowhere").ref == "nowhere"
    local = type("Local", (Strategy,), {"name": "local", "save": lambda *a: None})
    assert ref_of(local) is None and strategy_ref(local()) == "local"


def test_a_file_path_reference_loads_a_module_that_is_not_importable(tmp_path: Path) -> None:
    (tmp_path / "races.py").write_text(
        "from dataclasses import replace\nfrom race_harness import get_scenario\n"
        "MINE = replace(get_scenario('counter'), name='mine')\n"
    )
    code = "from race_harness import get_scenario\ns = get_scenario('races.py:MINE')\nprint(s.name, s.ref)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["mine", "races.py:MINE"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("counter", False),
        ("timestamp-occ", False),
        ("timestamp-oc:0", False),
        ("a.b", True),
        ("mod:ATTR", True),
        ("tests/x.py:A", True),
    ],
)
def test_what_counts_as_an_import_path(text: str, expected: bool) -> None:
    assert is_import_path(text) is expected


def test_a_reference_that_does_not_resolve_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"^cannot load strategy 'json:nope': json has no attribute 'nope'$"):
        load_ref("json:nope", "strategy")
