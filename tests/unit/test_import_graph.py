"""The package's modules import one another in one direction: no circle, counting every import a
module makes (at its top, under ``TYPE_CHECKING`` and inside functions), so each module can be read
and changed knowing only what is below it."""

from __future__ import annotations

import ast
import graphlib
import os
from pathlib import Path

import race_harness

PACKAGE = Path(race_harness.__file__).parent


def _modules() -> dict[str, Path]:
    """Module name -> file, following the bundled scenarios' link into the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE, followlinks=True):
        for file in files:
            if file.endswith(".py"):
                path = Path(folder) / file
                parts = ["race_harness", *path.relative_to(PACKAGE).with_suffix("").parts]
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # ``from package import module`` names a module
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in out if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "race_harness.scenarios.counter" in graph  # through the link
    assert "race_harness.optable" in graph["race_harness.history"]  # inside History.table
    assert "race_harness.events" in graph["race_harness.recorder"]  # under TYPE_CHECKING
    assert "race_harness.scenarios" in graph["race_harness.scenario"]  # ``from race_harness import scenarios``


def test_no_module_imports_one_that_imports_it_back() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"an import circle: {' -> '.join(exc.args[1])}") from None
