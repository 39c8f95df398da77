"""An application that connects itself and owns its schema: its migrations, its configuration hook.

Much application code never takes a connection: it reaches the database through a module-level
engine built from configuration, and its tables come from its own migrations. For such code a
scenario gives the harness two callables that take the scratch database's URL:

- ``Entity(create=...)`` makes the schema there, instead of ``MetaData.create_all``:
  :class:`Alembic` (``alembic upgrade head`` with the application's script location) or
  :class:`Command` (a command the application ships, given the URL), or any ``callable(url)``;
- ``Scenario(configure=...)`` points the application at it (``myapp.db.configure``), once per
  writer process before the sessions start.

The URL handed over carries the password (the application must connect with it); nothing here
prints it: an error names the scenario and what failed, with the password masked.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

from sqlalchemy.engine import URL, make_url

from race_harness.databases.templates import hash_paths, program_path
from race_harness.errors import UsageError, mask_url

SchemaSetup = Callable[[str], object]
Configure = Callable[[str], object]
COMMAND_TIMEOUT_S = 600.0


def masked(url: str) -> str:
    """``url`` with its password as ``***``, for messages."""
    try:
        return mask_url(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not a URL at all: say nothing of it
        return "<the scratch database URL>"


@dataclass(frozen=True)
class Alembic:
    """``alembic upgrade <revision>`` on the scratch database, with the application's migrations.

    ``script_location`` is what ``alembic.ini`` says (a directory, or ``package:path`` for
    migrations installed with the application); ``config`` an ``alembic.ini`` to read instead or
    as well. The URL is set as ``sqlalchemy.url``, which the application's ``env.py`` reads, as
    ``alembic -x`` or a test fixture would set it."""

    script_location: str | None = None
    config: str | None = None
    revision: str = "head"

    def __call__(self, url: str) -> None:
        try:
            from alembic import command
            from alembic.config import Config
        except ImportError:
            raise UsageError("Alembic(...) migrations need alembic installed (pip install alembic)") from None
        if self.script_location is None and self.config is None:
            raise UsageError("Alembic(...) needs the migrations' script_location or an alembic.ini (config=...)")
        cfg = Config(self.config) if self.config is not None else Config()
        if self.script_location is not None:
            cfg.set_main_option("script_location", self.script_location)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolates "%"
        command.upgrade(cfg, self.revision)

    def fingerprint(self) -> str:
        """Every file of the migrations and the ``alembic.ini`` (a template's key)."""
        paths: list[str] = [self.config] if self.config is not None else []
        if self.script_location is not None:
            paths.append(_resolve_location(self.script_location))
        return f"{self.revision}\n{hash_paths(paths)}"

    def __str__(self) -> str:
        return f"alembic upgrade {self.revision} ({self.script_location or self.config})"


def _resolve_location(location: str) -> str:
    """A script location as Alembic reads it: a folder, or ``package:path`` inside an installed package."""
    if ":" not in location or os.path.isabs(location) or os.path.exists(location):
        return location
    package, _, inner = location.partition(":")
    try:
        return str(resources.files(package).joinpath(inner))
    except (ImportError, TypeError):
        return location


@dataclass(frozen=True)
class Command:
    """A command the application ships for its schema (``["myapp-manage", "migrate", "{url}"]``):
    ``{url}`` in any argument becomes the scratch database's URL; it must exit 0."""

    args: Sequence[str]
    timeout: float = COMMAND_TIMEOUT_S
    # what the schema depends on (files or folders: the migrations): a template is made again when
    # they change; without them, when the program the command starts changes
    inputs: Sequence[str] = ()

    def __call__(self, url: str) -> None:
        argv = [a.replace("{url}", url) for a in self.args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise UsageError(f"schema command {self.args[0]!r} was not found on PATH") from None
        except subprocess.TimeoutExpired:
            raise UsageError(f"schema command {self} did not finish in {self.timeout:g} s") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
            raise UsageError(f"schema command {self} exited {proc.returncode}: {last.replace(url, masked(url))}")

    def fingerprint(self) -> str:
        inputs = list(self.inputs) or [p for p in [program_path(self.args[0])] if p is not None]
        return f"{shlex.join(self.args)}\n{hash_paths(inputs)}"

    def __str__(self) -> str:
        return shlex.join(self.args)


def run_setup(what: str, step: Callable[[str], object], url: URL, scenario: str) -> float:
    """Run the application's ``step`` (schema set-up or configuration) on ``url``; its seconds.
    Whatever it raises becomes one line naming the scenario and the step, the password masked."""
    text = url.render_as_string(hide_password=False)
    started = time.monotonic()
    try:
        step(text)
    except UsageError as exc:
        raise UsageError(f"scenario {scenario!r}: {exc}") from None
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300].replace(text, masked(text))
        raise UsageError(
            f"scenario {scenario!r}: the application's {what} failed: {type(exc).__name__}: {detail}"
        ) from None
    return time.monotonic() - started


# the (configure hook, URL) this process last pointed an application at, if the call succeeded
_CONFIGURED: list[tuple[Configure, URL]] = []


def configured(hook: Configure, url: URL) -> None:
    """Record that ``hook`` pointed the application at ``url`` (it succeeded)."""
    _CONFIGURED[:] = [(hook, url)]


def forget_configuration() -> None:
    """The application may point anywhere now (a configure under way or failed, a set-up that
    points it at the database it migrates): the next run configures it again."""
    _CONFIGURED.clear()


def last_configured() -> tuple[Configure, URL] | None:
    return _CONFIGURED[0] if _CONFIGURED else None


__all__ = [
    "Alembic",
    "Command",
    "Configure",
    "SchemaSetup",
    "configured",
    "forget_configuration",
    "last_configured",
    "masked",
    "run_setup",
]
