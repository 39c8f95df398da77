"""The comparison report at the size of the CI matrix: 15 databases, 660 cells, read in Chromium.

The cells are real: one ``race-harness run -S all`` per database that answers here (SQLite, and
PostgreSQL and MariaDB when they answer), each replicated under the names and versions of the CI
matrix's databases, histories included, and merged by the real ``race-harness report``. Headless
Chromium then checks what a reader sees: the page never scrolls sideways (the matrix scrolls inside
itself), every database column is there in engine and version order, no chart is taller than the
viewport, the page stays under 1 MB. Screenshots of the matrix and of a timeline are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from race_harness.report.merge import database_order
from tests.cli import race_harness

from .conftest import answering_databases
from .test_report import CHROMIUM, MISDECLARED

# the CI matrix's databases: engine family -> the labels its real cells are replicated under
REPLICAS = {
    "postgresql": ["postgresql 13.18", "postgresql 14.15", "postgresql 15.10", "postgresql 16.6", "postgresql 17.2"],
    "mysql": [
        "mariadb 10.6.20",
        "mariadb 10.11.10",
        "mariadb 11.4.4",
        "mysql 8.0.40",
        "mysql 8.4.3",
        "mysql 9.1.0",
    ],
    "sqlite": ["sqlite 3.31.1", "sqlite 3.40.1", "sqlite 3.45.1", "sqlite 3.46.1"],
}
HEADLINE: list[str] = []  # the headline report printed, as the page must show it
ARTIFACTS = Path(os.environ.get("RACE_HARNESS_ARTIFACTS") or Path(__file__).parents[2] / ".race-harness" / "artifacts")


def _family(label: str) -> str:
    return {"mariadb": "mysql"}.get(label.split()[0], label.split()[0])


@pytest.fixture(scope="module")
def merged_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("scale")
    databases = answering_databases()
    args = ["run", "-S", "all", "-n", "30", "-w", "4", "-r", "1", "-q", "--report-dir", "real"]
    proc = race_harness(*args, *(a for db in databases for a in ("-d", db)), cwd=root, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a strategy declared safe lost here; still real cells
    (real,) = (root / "real").glob("run-*/results.json")
    doc = json.loads(real.read_text())
    by_family: dict[str, list[dict[str, Any]]] = {}
    for cell in doc["cells"]:
        by_family.setdefault(_family(cell["database"]), []).append(cell)
    # every family of the matrix gets cells: one that did not answer here borrows SQLite's, relabelled
    files, labels = [], []
    for family, names in REPLICAS.items():
        cells = by_family.get(family) or by_family["sqlite"]
        for label in names:
            replica = root / "replicas" / label.replace(" ", "-")
            shutil.copytree(real.parent / "histories", replica / "histories")
            copied = [{**c, "database": label} for c in cells]
            (replica / "results.json").write_text(json.dumps({**doc, "cells": copied}))
            files.append(str(replica / "results.json"))
            labels.append(label)
    # and a real regression: a scenario that declares full-row safe, run on SQLite, where it loses
    (root / "misdeclared.py").write_text(MISDECLARED)
    wrong = race_harness(
        "run", "-s", "misdeclared.py:FULL_ROW_SAFE", "-S", "full-row", "-S", "version-occ", "-d", "sqlite",
        "-n", "30", "-q", "--report-dir", "wrong", cwd=root,
    )  # fmt: skip
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    files += [str(p) for p in (root / "wrong").glob("run-*/results.json")]
    out = root / "report"
    merged = race_harness("report", *files, "-o", str(out), cwd=root, timeout=600)
    assert merged.returncode == 1, merged.stderr  # the regression: as run would exit, with the report written
    HEADLINE.append(merged.stdout.splitlines()[3])
    yield out, labels


def test_the_matrix_merge_has_660_cells_and_stays_under_1_mb(merged_report: tuple[Path, list[str]]) -> None:
    out, labels = merged_report
    page = (out / "report.html").read_text()
    assert len(labels) == 15
    assert re.fullmatch(r"\d+ cells: \d+ lost as declared, \d+ none as declared, [1-9]\d* differs?, \d+ inconclusive.*",
                        HEADLINE[0]), HEADLINE  # fmt: skip
    cells = len(re.findall(r'<td class="(lost|none|inconclusive|n/a)', page))
    assert cells >= 600, cells  # 15 databases x every scenario x strategy that runs there
    size = (out / "report.html").stat().st_size
    print(f"report.html: {size / 1e6:.2f} MB for {cells} cells")
    assert size < 1_000_000
    assert "<text" in page  # chart text stays text


def test_chromium_reads_the_matrix_without_the_page_overflowing(
    merged_report: tuple[Path, list[str]], tmp_path: Path
) -> None:
    if CHROMIUM is None:
        if "chromium" in os.environ.get("RACE_HARNESS_REQUIRE", ""):
            pytest.fail("chromium is required by $RACE_HARNESS_REQUIRE but not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    out, labels = merged_report
    url = (out / "report.html").resolve().as_uri()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    viewport = {"width": 1280, "height": 900}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=viewport)
            started = time.monotonic()
            page.goto(url, wait_until="load")
            print(f"report.html loaded in Chromium in {time.monotonic() - started:.2f} s")  # a figure, not a bound
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the page body scrolls sideways by {overflow} px"
            # each header: the database, then (merged runs) which run measured it, in <small>
            columns = page.evaluate(
                "[...document.querySelectorAll('table#matrix thead th')].slice(1)"
                ".map(th => th.firstChild.textContent.trim())"
            )
            runs = page.locator("table#matrix thead th small").all_inner_texts()
            assert len(runs) == len(columns) and all(re.fullmatch(r"run \d+(, \d+)*", r) for r in runs), runs
            assert columns == sorted(labels, key=database_order), columns
            scroller = page.locator("#matrix").locator("xpath=..")
            assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")  # the matrix scrolls inside itself
            content = page.evaluate("document.querySelector('h1').getBoundingClientRect().width")
            for chart in page.locator("figure.chart svg").all():
                box = chart.bounding_box()
                assert box is not None
                assert box["width"] <= content + 1, box
                assert box["height"] <= viewport["height"], box
            not_drawn = page.locator("p.not-drawn").all_inner_texts()
            print("charts not drawn:", not_drawn)
            page.locator("#matrix").locator("xpath=..").screenshot(path=str(ARTIFACTS / "report-scale-matrix.png"))
            timeline = page.locator("figure.timeline").first
            assert timeline.count() == 1
            timeline.screenshot(path=str(ARTIFACTS / "report-scale-timeline.png"))
        finally:
            browser.close()
    for name in ("report-scale-matrix.png", "report-scale-timeline.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
    print(f"screenshots: {ARTIFACTS}")


def _chromium() -> str:
    if CHROMIUM is None:
        if "chromium" in os.environ.get("RACE_HARNESS_REQUIRE", ""):
            pytest.fail("chromium is required by $RACE_HARNESS_REQUIRE but not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    return CHROMIUM


def test_the_headline_leads_and_every_finding_is_reachable(merged_report: tuple[Path, list[str]]) -> None:
    """The page opens with the headline report printed; the differing cell is listed and linked, from the
    headline and from its matrix cell, to its explanation; every lost cell's link has a target."""
    from playwright.sync_api import sync_playwright

    out, _ = merged_report
    url = (out / "report.html").resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url, wait_until="load")
            assert page.locator("#headline").inner_text() == HEADLINE[0]
            assert page.locator("body > *").nth(1).get_attribute("id") == "headline"  # first, under the title
            listed = page.locator("#headline-list a").all_inner_texts()
            assert any(t.startswith("differs: counter_full_row_safe x full-row x sqlite") for t in listed), listed
            # from the matrix: the outlined cell's link scrolls its explanation into view
            wrong = page.locator("td.mismatch a").first
            target = wrong.get_attribute("href")
            assert target and target.startswith("#f-counter-full-row-safe-full-row-sqlite")
            wrong.click()
            assert page.evaluate("location.hash") == target
            box = page.locator(target).bounding_box()
            assert box is not None and 0 <= box["y"] < 900, box
            assert "declared" not in (page.locator(target).inner_text().split("\n")[0] or "x")  # its name
            assert "is lost" in page.locator(target).inner_text() or "lost" in page.locator(target).inner_text()
            # every lost cell links to an explanation that exists (open, or collapsed in <details>)
            broken = page.evaluate(
                """() => [...document.querySelectorAll('#matrix td.lost')].filter(td => {
                    const a = td.querySelector('a[href^="#f-"]');
                    return !a || !document.getElementById(a.getAttribute('href').slice(1));
                }).map(td => td.title)"""
            )
            assert broken == [], broken[:5]
            lost = page.locator("#matrix td.lost").count()
            explained = page.locator("section[id^=f-], details.finding[id^=f-]").count()
            assert explained >= lost > 0, (explained, lost)
        finally:
            browser.close()


@pytest.mark.parametrize("width", [390, 1400, 2560])
def test_every_verdict_of_a_row_can_be_seen_at_any_width(merged_report: tuple[Path, list[str]], width: int) -> None:
    """At a phone's, a laptop's and a wide screen's width: each verdict cell of the matrix's first row,
    scrolled to, is visible beside the sticky label column, not under it; the header row stays in view
    while the matrix scrolls; no heat-map value is cut; the page itself never scrolls sideways."""
    from playwright.sync_api import sync_playwright

    out, _ = merged_report
    url = (out / "report.html").resolve().as_uri()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 844 if width == 390 else 900})
            page.goto(url, wait_until="load")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
            hidden = page.evaluate(
                """() => {
                const scroller = document.querySelector('#matrix').parentElement;
                const row = document.querySelector('#matrix tbody tr');
                const label = row.querySelector('td.label');
                const hidden = [];
                for (const td of row.querySelectorAll('td:not(.label)')) {
                    scroller.scrollLeft = td.offsetLeft - label.offsetWidth;
                    const box = td.getBoundingClientRect(), frame = scroller.getBoundingClientRect();
                    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
                    if (!td.contains(hit) || box.right > frame.right + 1) hidden.push(td.title || td.cellIndex);
                }
                return hidden;
            }"""
            )
            assert hidden == [], f"at {width} px, under the label column or cut: {hidden}"
            stuck = page.evaluate(
                """() => {
                const scroller = document.querySelector('#matrix').parentElement;
                scroller.scrollLeft = 0; scroller.scrollTop = scroller.scrollHeight;
                const th = document.querySelector('#matrix thead th:nth-child(2)');
                return th.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
            }"""
            )
            assert abs(stuck) <= 1, f"the matrix header moved {stuck} px away from its top while scrolling"
            cut = page.evaluate(
                """() => [...document.querySelectorAll('table.heat td')]
                    .filter(td => td.textContent && td.scrollWidth > td.clientWidth).map(td => td.textContent)"""
            )
            assert cut == [], cut[:5]
            page.evaluate("document.querySelector('#matrix').parentElement.scrollTop = 0")
            page.screenshot(path=str(ARTIFACTS / f"report-scale-{width}px.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / f"report-scale-{width}px.png").stat().st_size > 10_000
