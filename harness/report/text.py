"""Text at a width: prose wrapped between words, items packed on lines, commands a shell reads back.

Light on purpose (no rich): ``replay`` and ``explore`` print through it and their start-up counts.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence

PLAIN_WIDTH = 120  # pipes and CI logs: wide enough for a table, narrow enough for a log viewer


def plain_width() -> int:
    """A log's width: $COLUMNS when the caller set one, else 120."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PLAIN_WIDTH


def output_width() -> int:
    """The terminal's width when stdout is one; in a log or a pipe 120, or $COLUMNS."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else plain_width()


def wrap(text: str, width: int, indent: str = "  ") -> str:
    """Prose at the width, broken between words only."""
    return textwrap.fill(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def note(text: str) -> None:
    """An aside on stderr, wrapped at the output's width: it shares the screen with the table. Not for
    a line that carries a command to paste (wrapping would split it): :func:`fit` breaks those."""
    print(wrap(text, output_width()), file=sys.stderr, flush=True)


def pack(items: Sequence[str], width: int, *, sep: str = "  ", first: str = "", indent: str = "") -> list[str]:
    """Items on as few lines as fit the width, never split inside an item (unless one alone is wider)."""
    lines: list[str] = []
    line = indent + first
    for item in items:
        start = line in (indent, indent + first)
        candidate = line + ("" if start else sep) + item
        if len(candidate) <= width or start:
            line = candidate
        else:
            lines.append(line.rstrip())
            line = indent + ("  " if first else "") + item
    lines.append(line.rstrip())
    return [textwrap.shorten(x, width, placeholder="…") if len(x) > width else x for x in lines]


def fit(lines: Sequence[str], width: int) -> str:
    """Lines at the width: prose wrapped between words (continuations indented under the line's own
    indentation), a ``race-harness ...`` command broken as a shell reads it back (:func:`command_lines`)."""
    out: list[str] = []
    for line in (part for text in lines for part in text.split("\n")):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        if body.startswith("race-harness "):
            out += command_lines(body, width, indent)
        elif len(line) <= width:
            out.append(line)
        else:
            out += textwrap.wrap(
                body,
                width,
                initial_indent=indent,
                subsequent_indent=indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
    return "\n".join(out)


def command_lines(command: str, width: int, indent: str = "") -> list[str]:
    """A shell command on lines of at most ``width`` that a POSIX shell reads back as the same command:
    breaks between arguments end with `` \\``; a --schedule's steps break inside their quotes (a newline
    there is whitespace to the schedule's parser, and a backslash would not be)."""
    words = shlex.split(command)
    if len(indent) + len(command) <= width or not words:
        return [indent + command]
    pieces: list[list[str]] = []  # each argument, as the lines it takes when it cannot fit one
    for before, word in zip(["", *words], words, strict=False):
        quoted = shlex.quote(word)
        room = width - len(indent) - 6
        if before == "--schedule" and len(quoted) > room and quoted.startswith("'"):
            pieces.append(pack(quoted.split(" "), room, sep=" "))
        else:
            pieces.append([quoted])
    lines: list[str] = []
    line = indent
    more = indent + "    "
    for piece in pieces:
        first, *rest = piece
        gap = "" if line.strip() == "" else " "
        if len(line) + len(gap) + len(first) + 2 > width and line.strip():
            lines.append(line + " \\")
            line, gap = more, ""
        if rest:  # a quoted schedule over several lines: no backslash inside the quotes
            lines.append(line + gap + first)
            lines += [more + r for r in rest[:-1]]
            line, gap = more + rest[-1], ""
        else:
            line += gap + first
    lines.append(line)
    return lines
