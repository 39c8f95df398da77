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
from .test_report import CHROMIUM

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
    out = root / "report"
    merged = race_harness("report", *files, "-o", str(out), cwd=root, timeout=600)
    assert merged.returncode == 0, merged.stderr
    yield out, labels


def test_the_matrix_merge_has_660_cells_and_stays_under_1_mb(merged_report: tuple[Path, list[str]]) -> None:
    out, labels = merged_report
    page = (out / "report.html").read_text()
    assert len(labels) == 15
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
            columns = page.locator("table#matrix thead th").all_inner_texts()[1:]
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
