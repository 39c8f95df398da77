"""Text at a width: what is wrapped stays readable, and a command broken over lines is the same command."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from race_harness.report.text import command_lines, fit, note

COMMAND = (
    "race-harness replay -s race_harness.examples.documents_core:SCENARIO -S app --db sqlite --isolation "
    "serializable --schedule 'A=retitle B=edit_body A.select:app_documents B.select:app_documents B.commit "
    "B.update:app_documents B.commit A.commit A.update:app_documents A.commit' --repeat 20"
)


def _as_bash_reads_it(text: str) -> list[str]:
    """The arguments bash passes for ``text`` pasted at its prompt (``race-harness`` replaced by printf)."""
    script = "printf '%s\\0' " + text.strip().removeprefix("race-harness ")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    return out.split("\0")[:-1]


@pytest.mark.parametrize("width", [40, 60, 80, 120, 400])
def test_a_command_broken_over_lines_is_the_same_command_to_a_shell(width: int) -> None:
    lines = command_lines(COMMAND, width, "  ")
    assert all(len(line) <= width for line in lines) or width < 60, lines
    argv = _as_bash_reads_it("\n".join(lines))
    expected = shlex.split(COMMAND)[1:]
    schedule = argv.index("--schedule") + 1
    assert argv[:schedule] == expected[:schedule] and argv[schedule + 1 :] == expected[schedule + 1 :]
    assert argv[schedule].split() == expected[schedule].split()  # the steps, whatever whitespace is between them


def test_prose_wraps_between_words_under_its_own_indentation() -> None:
    text = fit(["- op 0 (session A, update) set title = 'x', invoked at 0.0013 s and acknowledged at 0.0036 s"], 40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines) and lines[1].startswith("  ") and "acknowledged" in text
    assert fit(["short"], 40) == "short"


def test_an_aside_on_stderr_fits_the_width(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep's note names every database it dropped; at 80 columns it must not widen the screen."""
    monkeypatch.setenv("COLUMNS", "80")
    dropped = ", ".join(f"race_harness_{pid}_tpkn0v_0a7c9c_79cf1485" for pid in (20402, 20403, 20404))
    note(f"race-harness: dropped 3 scratch database(s) on postgresql 15.20 whose creators ended: {dropped}")
    err = capsys.readouterr().err
    assert len(err.splitlines()) > 1
    assert all(len(line) <= 80 for line in err.splitlines()), err
    assert "race_harness_20404_tpkn0v_0a7c9c_79cf1485" in err.split()
