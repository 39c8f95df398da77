"""How a set of cells stands against what their scenarios declare: the one headline every output leads with.

A cell's *standing* joins its declared verdict and the verdict it came out with. The run's exit code,
the terminal's last line, report.md, report.html, the plugin's failure and JUnit's properties all
count standings with this module, so they can never disagree about what a set of cells says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from race_harness.errors import EXIT_INCONCLUSIVE, EXIT_LOST, EXIT_NOT_REPRODUCED

NO_CONTENTION = (
    "no contention: no write saw another acknowledged while it ran, none was refused, no two read the same version"
)

Standing = Literal[
    "lost-as-declared",
    "none-as-declared",
    "unsafe",  # declared none, lost: a regression (exit 1)
    "not-reproduced",  # declared lost, came out none or inconclusive (exit 5)
    "unproven",  # declared none, proved nothing (exit 3)
    "undeclared",  # no declaration for this cell (a single-transaction scope of a declared loss, ...)
    "n/a",  # not run
]


# against the declaration: what a reader must look at, and what makes a run fail
FAILING: frozenset[Standing] = frozenset({"unsafe", "not-reproduced", "unproven"})


def standing(expected: str | None, outcome: str) -> Standing:
    """``expected``: lost | none | n/a | None; ``outcome``: lost | none | inconclusive | n/a."""
    if outcome == "n/a":
        return "n/a"
    if expected == "none":
        return "unsafe" if outcome == "lost" else "none-as-declared" if outcome == "none" else "unproven"
    if expected == "lost":
        return "lost-as-declared" if outcome == "lost" else "not-reproduced"
    return "undeclared"


@dataclass(frozen=True)
class Judged:
    """One cell as the headline sees it: a name a reader can find it by, and what it was and is."""

    name: str
    expected: str | None
    outcome: str
    figure: str = ""  # "lost 3/50", shown beside a differing cell's name
    anchor: str = ""  # where its explanation is, in a report

    @property
    def standing(self) -> Standing:
        return standing(self.expected, self.outcome)

    @property
    def failing(self) -> bool:
        return self.standing in FAILING

    @property
    def differs(self) -> bool:
        """It came out lost or none, against its declaration."""
        return self.outcome in ("lost", "none") and self.failing


@dataclass(frozen=True)
class Tally:
    cells: int
    counts: dict[Standing, int]
    inconclusive: int
    differing: list[Judged] = field(default_factory=list)  # lost/none against the declaration
    unsettled: list[Judged] = field(default_factory=list)  # inconclusive where a verdict was declared

    def __getitem__(self, key: Standing) -> int:
        return self.counts.get(key, 0)

    @property
    def failing(self) -> list[Judged]:
        """What a reader must look at: the differing cells, then the declared ones that proved nothing."""
        return [*self.differing, *self.unsettled]

    def text(self, noun: str = "cell") -> str:
        """``264 cells: 48 lost as declared, 215 none as declared, 1 differs, 0 inconclusive``."""
        parts = [
            f"{self['lost-as-declared']} lost as declared",
            f"{self['none-as-declared']} none as declared",
            f"{len(self.differing)} differ{'s' if len(self.differing) == 1 else ''}",
            f"{self.inconclusive} inconclusive",
        ]
        if self["undeclared"]:  # an undeclared cell that proved nothing is counted as inconclusive only
            parts.append(f"{self['undeclared']} not declared")
        if self["n/a"]:
            parts.append(f"{self['n/a']} not run")
        return f"{self.cells} {noun}{'s' if self.cells != 1 else ''}: {', '.join(parts)}"

    def exit_code(self) -> int:
        """0, or what the worst standing means (README: exit codes): 1 before 3 before 5."""
        worst: tuple[tuple[Standing, int], ...] = (
            ("unsafe", EXIT_LOST),
            ("unproven", EXIT_INCONCLUSIVE),
            ("not-reproduced", EXIT_NOT_REPRODUCED),
        )
        return next((code for key, code in worst if self[key]), 0)

    def lines(self) -> list[str]:
        """The headline, then each cell a reader must look at, by name."""
        return [self.text(), *(f"  {describe(j)}" for j in self.failing)]


def describe(j: Judged) -> str:
    """``differs: counter x version-occ x sqlite 3.40.1: declared none, lost 3/50``."""
    what = "differs" if j.differs else "inconclusive"
    return f"{what}: {j.name}: declared {j.expected}, came out {j.figure or j.outcome}"


def tally(cells: Iterable[Judged]) -> Tally:
    counts: dict[Standing, int] = {}
    inconclusive = 0
    differing: list[Judged] = []
    unsettled: list[Judged] = []
    total = 0
    for j in cells:
        total += 1
        s = j.standing
        if j.outcome == "inconclusive":
            inconclusive += 1
            if s != "undeclared":
                unsettled.append(j)
            else:
                continue  # counted once, as inconclusive
        elif j.differs:
            differing.append(j)
        counts[s] = counts.get(s, 0) + 1
    return Tally(total, counts, inconclusive, differing, unsettled)
