"""What one SQL statement an application sends is, for a statement-level schedule: a label and a footprint.

A statement step is named by its session and either its position (``A.2``) or a label read from the
statement: its verb and its first table, ``select:images``, ``update:instance_metadata``,
``insert:pages``, and ``commit`` for a COMMIT. A ``SELECT ... FOR UPDATE`` (or ``FOR SHARE``) is
labelled ``select:images`` too, but its footprint counts as a write: it takes the row locks a
write takes.

The footprint (tables read, tables written) is what systematic exploration uses to decide which
steps of two sessions commute (:mod:`race_harness.runner.explorer`). It is read from the SQL text
with a deliberately small parser: the table after ``FROM``, ``JOIN``, ``UPDATE``, ``INTO``. A
statement it cannot read (a CTE, a function call) touches every table, so it commutes with
nothing: the reduction stays sound, it only prunes less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVERY_TABLE = "*"  # a footprint entry for a statement whose tables the parser cannot name

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_VERB = re.compile(r"^\s*([a-z]+)", re.I)
_TABLES = re.compile(r"\b(?:from|join|update|into)\s+((?:[`\"\[]?[\w$]+[`\"\]]?\.)?[`\"\[]?[\w$]+[`\"\]]?)", re.I)
_LOCKING = re.compile(r"\bfor\s+(?:update|share|no\s+key\s+update|key\s+share)\b|\block\s+in\s+share\s+mode\b", re.I)
_WRITE_VERBS = frozenset({"insert", "update", "delete", "replace", "merge"})
_KNOWN_VERBS = _WRITE_VERBS | {"select"}


@dataclass(frozen=True)
class Statement:
    """One statement a session sends: how a schedule names it, and what it touches."""

    label: str  # select:images, update:images, commit, ...
    reads: frozenset[str]
    writes: frozenset[str]

    @property
    def is_commit(self) -> bool:
        return self.label == "commit"


COMMIT = Statement("commit", frozenset(), frozenset())


def _bare(name: str) -> str:
    """``"public"."images"`` -> ``images``: the table's own name, unquoted, lower case."""
    return name.split(".")[-1].strip('`"[]').lower()


def statement_of(sql: str) -> Statement:
    """The label and footprint of one statement's SQL text."""
    text = _COMMENTS.sub(" ", sql)
    verb_match = _VERB.match(text)
    verb = verb_match.group(1).lower() if verb_match else "statement"
    if verb == "commit":
        return COMMIT
    tables = [_bare(t) for t in _TABLES.findall(text)]
    if verb not in _KNOWN_VERBS or not tables:
        every = frozenset({EVERY_TABLE})
        return Statement(f"{verb}:{tables[0]}" if tables else verb, every, every)
    label = f"{verb}:{tables[0]}"
    if verb in _WRITE_VERBS:
        # the target is written; a table it reads from (INSERT ... SELECT, UPDATE ... FROM) is read
        return Statement(label, frozenset(tables[1:]), frozenset(tables[:1]))
    if _LOCKING.search(text):
        return Statement(label, frozenset(), frozenset(tables))  # row locks: it conflicts as a write does
    return Statement(label, frozenset(tables), frozenset())


def commutes(a: Statement, b: Statement) -> bool:
    """Whether two sessions' steps give the same result in either order: neither writes a table
    the other touches. A COMMIT's footprint is its transaction's (see :func:`transaction_footprints`)."""

    def clash(x: frozenset[str], y: frozenset[str]) -> bool:
        return bool(x & y) or (EVERY_TABLE in x and bool(y)) or (EVERY_TABLE in y and bool(x))

    return not (clash(a.writes, b.reads | b.writes) or clash(b.writes, a.reads | a.writes))


def transaction_footprints(statements: list[Statement]) -> list[Statement]:
    """The same steps, each COMMIT given what its transaction read and wrote: a commit publishes
    the writes (and, under SERIALIZABLE, ends the reads) of every statement since the last one."""
    out: list[Statement] = []
    reads: set[str] = set()
    writes: set[str] = set()
    for st in statements:
        if st.is_commit:
            out.append(Statement("commit", frozenset(reads), frozenset(writes)))
            reads, writes = set(), set()
        else:
            out.append(st)
            reads |= st.reads
            writes |= st.writes
    return out


__all__ = ["COMMIT", "EVERY_TABLE", "Statement", "commutes", "statement_of", "transaction_footprints"]
