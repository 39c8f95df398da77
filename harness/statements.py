"""What one SQL statement an application sends is, for a statement-level schedule: a label and a footprint.

A statement step is named by its session and either its position (``A.2``) or a label read from the
statement: its verb and its first table, ``select:images``, ``update:instance_metadata``,
``insert:pages``, and ``commit`` for a COMMIT.

The footprint (the rows it reads, the rows it writes) is what systematic exploration uses to decide
which steps of two sessions commute (:mod:`race_harness.runner.explorer`). Rows are named as
precisely as the statement lets the harness know them:

- a statement SQLAlchemy compiled (Core or ORM) names its rows by the equalities of its WHERE
  clause joined by AND (``images.id = 'x'``, ``instance_uuid = 'i' AND key = 'k'``), with the
  values bound for this execution; an INSERT by the values of the row it inserts. Two such sets of
  rows are disjoint when some column is constrained to different values in each, and then the
  statements commute whatever else they do;
- anything else (a condition that is not an equality, an OR, SQL text sent to the driver itself)
  touches every row of its tables: the table after ``FROM``, ``JOIN``, ``UPDATE``, ``INTO``;
- a statement whose tables the parser cannot name touches every table, so it commutes with nothing.

Coarser is always sound (it only prunes less). A ``SELECT ... FOR UPDATE`` (or ``FOR SHARE``)
counts as a write: it takes the row locks a write takes.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EVERY_TABLE = "*"  # the table of a footprint entry for a statement whose tables the parser cannot name

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_VERB = re.compile(r"^\s*([a-z]+)", re.I)
_TABLES = re.compile(r"\b(?:from|join|update|into)\s+((?:[`\"\[]?[\w$]+[`\"\]]?\.)?[`\"\[]?[\w$]+[`\"\]]?)", re.I)
_LOCKING = re.compile(r"\bfor\s+(?:update|share|no\s+key\s+update|key\s+share)\b|\block\s+in\s+share\s+mode\b", re.I)
_WRITE_VERBS = frozenset({"insert", "update", "delete", "replace", "merge"})
_KNOWN_VERBS = _WRITE_VERBS | {"select"}


@dataclass(frozen=True)
class Rows:
    """Rows of one table: those whose columns equal ``where``'s values, or all of them (None)."""

    table: str
    where: tuple[tuple[str, Hashable], ...] | None = None

    def overlaps(self, other: Rows) -> bool:
        if EVERY_TABLE in (self.table, other.table):
            return True
        if self.table != other.table:
            return False
        if self.where is None or other.where is None:
            return True
        mine = dict(self.where)
        return not any(col in mine and mine[col] != value for col, value in other.where)

    def __str__(self) -> str:
        if self.where is None:
            return self.table
        return f"{self.table}({', '.join(f'{c}={v!r}' for c, v in self.where)})"


@dataclass(frozen=True)
class Statement:
    """One statement a session sends: how a schedule names it, and what it touches."""

    label: str  # select:images, update:images, commit, ...
    reads: frozenset[Rows]
    writes: frozenset[Rows]

    @property
    def is_commit(self) -> bool:
        return self.label == "commit"


COMMIT = Statement("commit", frozenset(), frozenset())


def _bare(name: str) -> str:
    """``"public"."images"`` -> ``images``: the table's own name, unquoted, lower case."""
    return name.split(".")[-1].strip('`"[]').lower()


def statement_of(sql: str, compiled: Any = None, parameters: Any = None) -> Statement:
    """The label and footprint of one statement: its SQL text, and when SQLAlchemy compiled it, the
    construct and the parameters bound for this execution (which name its rows)."""
    text = _COMMENTS.sub(" ", sql)
    verb_match = _VERB.match(text)
    verb = verb_match.group(1).lower() if verb_match else "statement"
    if verb == "commit":
        return COMMIT
    tables = [_bare(t) for t in _TABLES.findall(text)]
    if verb not in _KNOWN_VERBS or not tables:
        every = frozenset({Rows(EVERY_TABLE)})
        return Statement(f"{verb}:{tables[0]}" if tables else verb, every, every)
    label = f"{verb}:{tables[0]}"
    target = Rows(tables[0], _rows_of(verb, compiled, parameters))
    others = frozenset(Rows(t) for t in tables[1:])
    if verb in _WRITE_VERBS:
        # the target is written; a table it reads from (INSERT ... SELECT, UPDATE ... FROM) is read
        return Statement(label, others, frozenset({target}))
    if _LOCKING.search(text):
        return Statement(label, frozenset(), frozenset({target}) | others)  # row locks: it conflicts as a write
    return Statement(label, frozenset({target}) | others, frozenset())


def _rows_of(verb: str, compiled: Any, parameters: Any) -> tuple[tuple[str, Hashable], ...] | None:
    """The equalities that name a compiled statement's rows, or None (every row) when it has none
    the harness can read. Only a single-table statement is read: with a join, a condition may be
    on another table."""
    statement = getattr(compiled, "statement", None)
    if statement is None or not isinstance(parameters, Mapping):
        return None
    try:
        if verb == "insert":
            return _frozen((str(k), v) for k, v in parameters.items())
        where = getattr(statement, "whereclause", None)
        froms = getattr(statement, "get_final_froms", lambda: [getattr(statement, "table", None)])()
        if where is None or len(froms) != 1:
            return None
        return _frozen(_equalities(where, parameters, getattr(compiled, "bind_names", {})))
    except Exception:  # a construct of a shape not read here: every row, which is always sound
        return None


def _equalities(clause: Any, parameters: Mapping[str, Any], names: Mapping[Any, str]) -> Iterable[tuple[str, Any]]:
    """``column = value`` pairs of an AND of conditions. The value is this execution's: SQLAlchemy
    reuses one compiled form for every execution of a statement of the same shape (its cache), so
    the construct's own bind values are those of the first; ``names`` maps its binds to the names
    this execution's parameters are under."""
    from sqlalchemy.sql import operators
    from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, ColumnClause

    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        for inner in clause.clauses:
            yield from _equalities(inner, parameters, names)
        return
    if isinstance(clause, BinaryExpression) and clause.operator is operators.eq:
        left, right = clause.left, clause.right
        if isinstance(right, ColumnClause) and isinstance(left, BindParameter):
            left, right = right, left
        if isinstance(left, ColumnClause) and isinstance(right, BindParameter):
            name = names.get(right)
            if name is not None and name in parameters:  # else unknown: left out, which names more rows
                yield left.name, parameters[name]
    # any other condition narrows the rows further; leaving it out names more rows: sound


def _frozen(pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Hashable], ...] | None:
    out = {}
    for col, value in pairs:
        if isinstance(value, Hashable) and not isinstance(value, (list, dict, set)):
            out[col] = value
    return tuple(sorted(out.items())) or None


def _clash(x: frozenset[Rows], y: frozenset[Rows]) -> bool:
    return any(a.overlaps(b) for a in x for b in y)


def commutes(a: Statement, b: Statement) -> bool:
    """Whether two sessions' steps give the same result in either order: neither writes a row the
    other touches. A COMMIT's footprint is its transaction's (see :func:`transaction_footprints`)."""
    return not (_clash(a.writes, b.reads | b.writes) or _clash(b.writes, a.reads | a.writes))


def transaction_footprints(statements: list[Statement]) -> list[Statement]:
    """The same steps, each COMMIT given what its transaction read and wrote: a commit publishes
    the writes (and, under SERIALIZABLE, ends the reads) of every statement since the last one."""
    out: list[Statement] = []
    reads: set[Rows] = set()
    writes: set[Rows] = set()
    for st in statements:
        if st.is_commit:
            out.append(Statement("commit", frozenset(reads), frozenset(writes)))
            reads, writes = set(), set()
        else:
            out.append(st)
            reads |= st.reads
            writes |= st.writes
    return out


__all__ = ["COMMIT", "EVERY_TABLE", "Rows", "Statement", "commutes", "statement_of", "transaction_footprints"]
