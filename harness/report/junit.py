"""JUnit XML: one test case per cell, so CI systems other than GitHub show the cells as tests.

A cell fails when a strategy the scenario declares safe lost an update (``run``) or when the plain
read-modify-write disagrees with what Hermitage documents (``p4``); a declared-safe cell that proved
nothing (inconclusive) is an error, never a pass; a cell that did not run (n/a) is skipped.

Test names hold what the user asked for (the ``--db`` value, not the server's version), so a CI
system's test history survives a server upgrade; the version is a property of the case. Each suite
carries the headline (race-harness.headline) as a property, a timestamp and the host it ran on.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from race_harness.report.files import write_atomic

__all__ = ["Case", "Problem", "write_junit"]


@dataclass(frozen=True)
class Problem:
    type: str  # a word a CI system can group by: the anomaly's kind, "inconclusive", "not-reproduced"
    text: str  # the first line is the message; the rest (evidence, reproduce commands) the body


@dataclass(frozen=True)
class Case:
    suite: str  # the scenario (run) or the database (p4)
    name: str  # strategy [database as asked, isolation, scope]
    seconds: float
    failure: Problem | None = None  # what makes it fail
    error: Problem | None = None  # what makes it prove nothing
    skipped: str | None = None  # why it did not run
    output: str = ""  # the cell's verdict and figures, shown beside it
    properties: Mapping[str, str] = field(default_factory=dict)  # the server's version, ...


def write_junit(path: Path, name: str, cases: Sequence[Case], properties: Mapping[str, str] | None = None) -> None:
    suites = ET.Element("testsuites", name=name)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    host = socket.gethostname()
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
            timestamp=stamp,
            hostname=host,
        )
        _properties(suite, properties or {})
        for c in mine:
            case = ET.SubElement(
                suite, "testcase", classname=f"{name}.{suite_name}", name=c.name, time=f"{c.seconds:.3f}"
            )
            _properties(case, c.properties)
            for tag, problem in (("failure", c.failure), ("error", c.error)):
                if problem is not None:
                    message = problem.text.splitlines()[0]
                    ET.SubElement(case, tag, message=message, type=problem.type).text = problem.text
                    break
            else:
                if c.skipped is not None:
                    ET.SubElement(case, "skipped", message=c.skipped)
            if c.output:
                ET.SubElement(case, "system-out").text = c.output
    ET.indent(suites)
    write_atomic(path, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def _properties(parent: ET.Element, properties: Mapping[str, str]) -> None:
    if properties:
        holder = ET.SubElement(parent, "properties")
        for key, value in properties.items():
            ET.SubElement(holder, "property", name=key, value=value)
