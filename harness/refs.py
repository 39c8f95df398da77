"""References to a user's own scenarios and strategies: import paths that load an object, and the
text that loads the same object again in another process, from the user's project directory.

A reference is ``package.module:ATTR``, ``package.module`` (for a scenario module exposing
``SCENARIO``) or ``path/to/file.py:ATTR`` (relative to the working directory). The working directory
is put on the import path first, as ``python -m`` does, so the commands the harness prints run
verbatim where the user is; the harness's own modules live under ``race_harness`` and cannot be
shadowed by a project's own packages.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from race_harness.errors import UsageError

__all__ = ["is_import_path", "load_ref", "ref_of"]


def is_import_path(text: str) -> bool:
    """``module:ATTR``, ``a.b.c`` or ``file.py:ATTR``: something to import, not a registered name.
    ``timestamp-oc:0`` is not one: no module is called ``timestamp-oc`` (a misspelt name with a parameter)."""
    target = text.split(":", 1)[0]
    if target.endswith(".py"):
        return True
    dotted = bool(target) and all(part.isidentifier() for part in target.split("."))
    return dotted and (":" in text or "." in target)


def _cwd_on_path() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _module_from_file(path: Path, what: str, text: str) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"cannot load {what} {text!r}: no file {str(path)!r} (relative to {os.getcwd()})")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"race_harness_user_{path.stem}_{digest}"  # a name no project uses, stable for one file
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {what} {text!r}: {str(path)!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _cwd_on_path()  # the file's own imports of the project's packages
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise _not_loaded(exc, f"cannot load {what} {text!r}") from None
    return module


def _not_loaded(exc: BaseException, what: str) -> BaseException:
    """What a module that failed at import raises instead: one line naming it and what it raised,
    also for ``sys.exit()`` and a ``KeyboardInterrupt`` of its own (a real signal's interrupt, a
    subclass the CLI raises, goes on as the interrupt it is)."""
    if isinstance(exc, KeyboardInterrupt) and type(exc) is not KeyboardInterrupt:
        return exc
    if isinstance(exc, SystemExit):
        return UsageError(f"{what}: it called sys.exit({exc.code!r}) while being imported")
    if not isinstance(exc, Exception | KeyboardInterrupt):
        return exc  # GeneratorExit and the like: not the module's doing
    if isinstance(exc, UsageError):  # the module's own one line (race_harness.django.setup's)
        return UsageError(f"{what}: {exc}")
    return UsageError(f"{what}: {type(exc).__name__}: {exc}")


def load_ref(text: str, what: str) -> object:
    """The object an import path names; a one-line :class:`UsageError` naming it when it does not resolve."""
    target, _, attr = text.partition(":")
    if target.endswith(".py"):
        module = _module_from_file(Path(target), what, text)
    else:
        _cwd_on_path()
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"cannot import {what} {text!r}: {exc} (looked in {os.getcwd()} and the installed packages)"
            ) from None
        except BaseException as exc:
            raise _not_loaded(exc, f"cannot import {what} {text!r}") from None
    if not attr:
        return module
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"cannot load {what} {text!r}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _module_ref(module: ModuleType) -> str:
    """How a fresh process started in the working directory imports ``module`` again."""
    file = getattr(module, "__file__", None)
    plain = not module.__spec__ or not module.__spec__.parent  # not inside a package
    if file and (plain or module.__name__.startswith("race_harness_user_")):
        path = Path(file).resolve()
        try:  # a test module or script under the project: by its path, which imports the same file
            return str(path.relative_to(Path.cwd().resolve()))
        except ValueError:
            pass
    return module.__name__


def ref_of(obj: object) -> str | None:
    """An import path that loads ``obj`` again (a class by its module and name; any other object by
    the module attribute that holds it), or None when no loaded module holds it."""
    if isinstance(obj, type):
        home = sys.modules.get(obj.__module__)
        qualname: str = obj.__qualname__
        if home is not None and home.__name__ != "__main__" and getattr(home, qualname, None) is obj:
            return f"{_module_ref(home)}:{qualname}"
        return None
    for name, module in sorted(sys.modules.items()):
        if name == "__main__" or not isinstance(module, ModuleType):
            continue
        for attr, value in list(vars(module).items()):
            if value is obj and not attr.startswith("_"):
                return f"{_module_ref(module)}:{attr}"
    return None
