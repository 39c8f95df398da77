"""JUnit XML: one test case per cell, so CI systems other than GitHub show the cells as tests.

A cell fails when a strategy the scenario declares safe lost an update (``run``) or when the plain
read-modify-write disagrees with what Hermitage documents (``p4``); a declared-safe cell that proved
nothing (inconclusive) is an error, never a pass; a cell that did not run (n/a) is skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from race_harness.report.files import write_atomic

__all__ = ["Case", "write_junit"]


@dataclass(frozen=True)
class Case:
    suite: str  # the scenario (run) or the database (p4)
    name: str  # strategy [database, isolation, scope]
    seconds: float
    failure: str | None = None  # what makes it fail
    error: str | None = None  # what makes it prove nothing
    skipped: str | None = None  # why it did not run
    output: str = ""  # the cell's verdict and figures, shown beside it


def write_junit(path: Path, name: str, cases: Sequence[Case]) -> None:
    suites = ET.Element("testsuites", name=name)
    for suite_name in dict.fromkeys(c.suite for c in cases):
        mine = [c for c in cases if c.suite == suite_name]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=suite_name,
            tests=str(len(mine)),
            failures=str(sum(c.failure is not None for c in mine)),
            errors=str(sum(c.error is not None for c in mine)),
            skipped=str(sum(c.skipped is not None for c in mine)),
            time=f"{sum(c.seconds for c in mine):.3f}",
        )
        for c in mine:
            case = ET.SubElement(
                suite, "testcase", classname=f"{name}.{suite_name}", name=c.name, time=f"{c.seconds:.3f}"
            )
            if c.failure is not None:
                ET.SubElement(case, "failure", message=c.failure.splitlines()[0]).text = c.failure
            elif c.error is not None:
                ET.SubElement(case, "error", message=c.error.splitlines()[0]).text = c.error
            elif c.skipped is not None:
                ET.SubElement(case, "skipped", message=c.skipped)
            if c.output:
                ET.SubElement(case, "system-out").text = c.output
    ET.indent(suites)
    write_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")
