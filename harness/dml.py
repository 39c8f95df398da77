"""What a data-changing (or row-reading) SQL statement does, read from its text and its parameters.

The harness sees every statement an application sends as the driver receives it: SQL text with
placeholders and the parameters bound to them (SQLAlchemy's compiled statements reach the driver
this way too). To know what a call wrote, the statement's shape is read once per distinct text
(:func:`parse`, cached) into a :class:`Dml` template, whose terms are then bound to each execution's
parameters (:func:`bind`):

- ``UPDATE t SET a = <term>, ... WHERE <conditions>``: the columns set and what to;
- ``INSERT INTO t (a, b) VALUES (<term>, <term>), ...``: the rows inserted (``REPLACE`` alike);
- ``DELETE FROM t WHERE <conditions>``;
- ``SELECT ... FROM t ... WHERE <conditions>``: the tables read and the conditions that name rows.

A term is a placeholder (every paramstyle a Python driver uses: ``?``, ``%s``, ``%(name)s``,
``:name``, ``:1``, ``$1``; a cast around it is the same value), a literal, or an expression computed
by the database (``n = n + 1``), whose value the harness cannot know and never claims. Conditions
are the equalities and ``IN`` lists of the WHERE clause joined by AND; a WHERE with a top-level OR
names no rows the harness can know (``where`` is None). What this cannot read is left out, never
guessed: a coarser reading only makes the witnesses see less.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<str>[EeNn]?'(?:[^'\\]|\\.|'')*')
  | (?P<qid>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
  | (?P<pyformat>%\((?P<pyname>[^)]+)\)[sbt])
  | (?P<format>%[sbt])
  | (?P<percent>%%)
  | (?P<cast>::)
  | (?P<named>:(?P<nname>[A-Za-z_]\w*|\d+))
  | (?P<qmark>\?)
  | (?P<dollar>\$(?P<dnum>\d+))
  | (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_][\w$]*)
  | (?P<op><=|>=|<>|!=|\|\||[=<>(),.;+\-*/])
  | (?P<other>.)
    """,
    re.S | re.X,
)
# where a clause of the statement ends (a keyword at parenthesis depth 0)
_CLAUSE_ENDS = frozenset(
    {"from", "where", "returning", "order", "limit", "on", "group", "having", "union", "for", "values", "select"}
)


@dataclass(frozen=True)
class Param:
    """A placeholder: the ``index``-th positional parameter, or the one called ``name``."""

    index: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Lit:
    """A literal written in the SQL text."""

    value: Any


@dataclass(frozen=True)
class Expr:
    """Anything else: computed by the database from what it holds (``n + 1``, ``now()``)."""

    text: str


Term = Param | Lit | Expr
Condition = tuple[str, tuple[Term, ...]]  # column -> the values it equals (one, or an IN list)


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()  # a term whose value this execution does not tell


@dataclass(frozen=True)
class Dml:
    """A statement's shape: its verb, the table it targets (a SELECT: its first table), every table
    it names, and what it sets, inserts and selects rows by."""

    verb: str
    table: str
    tables: tuple[str, ...]
    sets: tuple[tuple[str, Term], ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Term, ...], ...] = ()
    where: tuple[Condition, ...] | None = ()

    def condition(self, column: str) -> tuple[Term, ...] | None:
        """The values the WHERE clause requires ``column`` to equal, or None when it does not say."""
        for col, terms in self.where or ():
            if col == column:
                return terms
        return None


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    param: Param | None = None

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokens(sql: str) -> list[_Tok]:
    out: list[_Tok] = []
    position = 0
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind in ("ws", "comment"):
            continue
        param = None
        if kind == "pyformat":
            param = Param(name=m.group("pyname"))
        elif kind in ("format", "qmark"):
            param, position = Param(index=position), position + 1
        elif kind == "named":
            name = m.group("nname")
            param = Param(index=int(name) - 1) if name.isdigit() else Param(name=name)
        elif kind == "dollar":
            param = Param(index=int(m.group("dnum")) - 1)
        out.append(_Tok("param" if param is not None else kind, m.group(0), param))
    return out


def _ident(tok: _Tok) -> str | None:
    """A name as the database knows it: unquoted, lower case."""
    if tok.kind == "word":
        return tok.text.lower()
    if tok.kind == "qid":
        return tok.text[1:-1].lower()
    return None


def _name_at(toks: list[_Tok], i: int) -> tuple[str | None, int]:
    """A possibly qualified name starting at ``i`` (``schema.table``, ``t.col``): its last part."""
    name = _ident(toks[i]) if i < len(toks) else None
    if name is None:
        return None, i
    i += 1
    while i + 1 < len(toks) and toks[i].text == "." and _ident(toks[i + 1]) is not None:
        name = _ident(toks[i + 1])
        i += 2
    return name, i


def _split(toks: list[_Tok], sep: str) -> list[list[_Tok]]:
    """Split at depth 0 on the punctuation ``sep`` (``,``) or the keyword ``sep`` (``and``)."""
    parts: list[list[_Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth == 0 and (tok.text == sep or tok.word == sep):
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _clause(toks: list[_Tok], start: int, ends: frozenset[str] = _CLAUSE_ENDS) -> tuple[list[_Tok], int]:
    """The tokens from ``start`` up to the next clause keyword at depth 0."""
    depth = 0
    i = start
    while i < len(toks):
        tok = toks[i]
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and tok.word in ends:
            break
        i += 1
    return toks[start:i], i


def _literal(tok: _Tok) -> Lit | None:
    if tok.kind == "str":
        body = tok.text[tok.text.index("'") + 1 : -1]
        return Lit(body.replace("''", "'"))
    if tok.kind == "num":
        return Lit(float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text))
    if tok.word in ("null", "true", "false"):
        return Lit({"null": None, "true": True, "false": False}[tok.word])
    return None


def _term(toks: list[_Tok]) -> Term:
    """One value: a placeholder (also inside a cast), a literal, or an expression."""
    toks = _unwrap(toks)
    if len(toks) >= 3 and toks[-2].kind == "cast" and toks[-1].kind == "word":  # %(x)s::json
        toks = toks[:-2]
    if len(toks) >= 6 and toks[0].word == "cast" and toks[1].text == "(" and toks[-1].text == ")":
        inner = toks[2:-1]
        at = next((i for i, t in enumerate(inner) if t.word == "as"), None)
        if at is not None:
            toks = inner[:at]
    if len(toks) == 1:
        if toks[0].param is not None:
            return toks[0].param
        lit = _literal(toks[0])
        if lit is not None:
            return lit
    if len(toks) == 2 and toks[0].text == "-" and toks[1].kind == "num":
        lit = _literal(toks[1])
        assert lit is not None
        return Lit(-lit.value)
    return Expr(" ".join(t.text for t in toks))


def _unwrap(toks: list[_Tok]) -> list[_Tok]:
    """Without parentheses that enclose the whole list."""
    while len(toks) >= 2 and toks[0].text == "(" and toks[-1].text == ")":
        depth = 0
        for i, tok in enumerate(toks):
            depth += tok.text == "("
            depth -= tok.text == ")"
            if depth == 0 and i < len(toks) - 1:
                return toks
        toks = toks[1:-1]
    return toks


def _conditions(toks: list[_Tok]) -> tuple[Condition, ...] | None:
    """The equalities and IN lists of a WHERE clause joined by AND; None when an OR joins them."""
    out: list[Condition] = []
    for part in _split(_unwrap(toks), "and"):
        part = _unwrap(part)
        if any(t.word == "or" for t in part):
            depth = 0
            for t in part:
                depth += (t.text == "(") - (t.text == ")")
                if depth == 0 and t.word == "or":
                    return None
            if part and part[0].text == "(":  # an OR inside parentheses: a condition not read
                continue
        if len(part) > 1 and part[0].text == "(" and part[-1].text == ")":
            nested = _conditions(part[1:-1])
            if nested is not None:
                out.extend(nested)
            continue
        column, i = _name_at(part, 0)
        if column is None or i >= len(part):
            # ``<value> = col``: the other way round
            at = next((k for k, t in enumerate(part) if t.text == "="), None)
            if at is not None:
                column, end = _name_at(part, at + 1)
                if column is not None and end == len(part):
                    out.append((column, (_term(part[:at]),)))
            continue
        rest = part[i:]
        if rest[0].text == "=" and len(rest) > 1:
            out.append((column, (_term(rest[1:]),)))
        elif rest[0].word == "in" and len(rest) > 2 and rest[1].text == "(" and rest[-1].text == ")":
            listed = rest[2:-1]
            if listed and listed[0].word == "select":
                continue
            out.append((column, tuple(_term(x) for x in _split(listed, ","))))
        elif len(rest) == 2 and rest[0].word == "is" and rest[1].word == "null":
            out.append((column, (Lit(None),)))
    return tuple(out)


def _where(toks: list[_Tok], i: int) -> tuple[Condition, ...] | None:
    """The conditions of the WHERE clause at or after ``i`` (none: every row)."""
    while i < len(toks) and toks[i].word != "where":
        i += 1
    if i >= len(toks):
        return ()
    body, _ = _clause(toks, i + 1)
    return _conditions(body)


def _tables(toks: list[_Tok]) -> tuple[str, ...]:
    found: list[str] = []
    for i, tok in enumerate(toks):
        if tok.word in ("from", "join", "update", "into") and i + 1 < len(toks):
            at = i + 1
            if toks[at].word == "only":
                at += 1
            name, _ = _name_at(toks, at)
            if name is not None and name not in ("select", "lateral") and name not in found:
                found.append(name)
    return tuple(found)


@lru_cache(maxsize=2048)
def parse(sql: str) -> Dml | None:
    """The statement's template, or None for what is not a SELECT, INSERT, UPDATE, DELETE or REPLACE."""
    toks = _tokens(sql)
    while toks and toks[0].text == "(":  # (SELECT ...) UNION ...: the first part is what is read
        toks = toks[1:]
    if not toks:
        return None
    verb = toks[0].word
    if verb == "with":
        return None  # a CTE: which rows it reads and writes is not read here
    tables = _tables(toks)
    if verb not in ("select", "insert", "update", "delete", "replace") or not tables:
        return None
    table = tables[0]
    if verb == "update":
        i = next((k for k, t in enumerate(toks) if t.word == "set"), None)
        if i is None:
            return None
        body, end = _clause(toks, i + 1)
        sets = []
        for assignment in _split(body, ","):
            column, at = _name_at(assignment, 0)
            if column is None or at >= len(assignment) or assignment[at].text != "=":
                return None
            sets.append((column, _term(assignment[at + 1 :])))
        return Dml("update", table, tables, sets=tuple(sets), where=_where(toks, end))
    if verb in ("insert", "replace"):
        return _insert(verb, toks, table, tables)
    if verb == "delete":
        return Dml("delete", table, tables, where=_where(toks, 1))
    return Dml("select", table, tables, where=_where(toks, 1))


def _insert(verb: str, toks: list[_Tok], table: str, tables: tuple[str, ...]) -> Dml:
    i = next(k for k, t in enumerate(toks) if t.word == "into" or k == len(toks) - 1)
    _, i = _name_at(toks, i + 1)
    columns: list[str] = []
    if i < len(toks) and toks[i].text == "(":
        body, i = _clause(toks, i + 1, frozenset())
        for part in _split(body, ","):
            name, _ = _name_at(part, 0)
            columns.append(name or "?")
        i += 1
    rows: list[tuple[Term, ...]] = []
    if i < len(toks) and toks[i].word in ("values", "value"):
        i += 1
        while i < len(toks) and toks[i].text == "(":
            body, i = _clause(toks, i + 1, frozenset())
            rows.append(tuple(_term(part) for part in _split(body, ",")))
            i += 1
            if i < len(toks) and toks[i].text == ",":
                i += 1
            else:
                break
    if any(len(row) != len(columns) for row in rows):
        rows = []  # a shape not read here (no column list): the rows are not known
    return Dml("insert", table, tables, columns=tuple(columns), rows=tuple(rows))


def bind(term: Term, params: Any) -> Any:
    """The value ``term`` has in an execution with ``params`` (a sequence, a mapping, or None);
    :data:`UNKNOWN` for an expression, or a placeholder the parameters do not hold."""
    if isinstance(term, Lit):
        return term.value
    if isinstance(term, Expr):
        return UNKNOWN
    try:
        if term.name is not None:
            return params[term.name] if isinstance(params, Mapping) else UNKNOWN
        if isinstance(params, Sequence) and not isinstance(params, str | bytes):
            assert term.index is not None
            return params[term.index]
        if isinstance(params, Mapping) and term.index is not None:  # :1 bound by a mapping of its own
            return params.get(str(term.index + 1), params.get(term.index + 1, UNKNOWN))
    except (IndexError, KeyError, TypeError):
        pass
    return UNKNOWN


__all__ = ["UNKNOWN", "Dml", "Expr", "Lit", "Param", "Term", "bind", "parse"]
