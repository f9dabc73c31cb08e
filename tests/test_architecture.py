"""The layering the code base keeps, read from every module's imports (lazy ones included).

These are static checks on the source: an import inside a function counts
the same as one at the top, because it couples the two modules all the same.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The installed package names of the repository's top-level folders (see pyproject.toml).
FOLDERS = {"vidrestore": ROOT / "vidrestore", "vidrestore.bench": ROOT / "bench",
           "vidrestore.export": ROOT / "export", "vidrestore.training": ROOT / "training"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The vidrestore modules `path` imports, each resolved to a module that exists."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidrestore"):
            names.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("vidrestore"))
    resolved = set()
    for name in names:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        resolved.add(name)
    return resolved


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _area(module: str) -> str:
    """vidrestore.io.decode -> io; vidrestore.signals -> signals; vidrestore.bench.common -> bench."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "vidrestore"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def importers_of(area: str) -> dict[str, set[str]]:
    return {m: {t for t in targets if _area(t) == area} for m, targets in GRAPH.items()
            if _area(m) != area and any(_area(t) == area for t in targets)}


def test_the_source_tree_was_found() -> None:
    assert {"vidrestore.pipeline.runner", "vidrestore.frames.color", "vidrestore.bench.pipeline",
            "vidrestore.training.trainer", "vidrestore.export.onnx"} <= set(MODULES)


def test_no_module_imports_in_a_circle() -> None:
    assert _cycles(GRAPH) == []


def test_no_package_imports_in_a_circle() -> None:
    areas: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        areas[_area(module)].update(_area(t) for t in targets if _area(t) != _area(module))
    assert _cycles(areas) == []


def test_io_does_not_import_the_pipeline() -> None:
    assert {m: t for m, t in importers_of("pipeline").items() if _area(m) == "io"} == {}


def test_only_main_imports_the_cli() -> None:
    assert set(importers_of("cli")) == {"vidrestore.__main__"}


@pytest.mark.parametrize("area", ["bench", "live", "pipeline", "training", "eval", "export"])
def test_the_library_imports_no_cli_module(area: str) -> None:
    assert {m: t for m, t in importers_of("cli").items() if _area(m) == area} == {}


def test_frames_sit_at_the_bottom() -> None:
    """Planes and colour: every other package may build on them; they build on ops alone."""
    above = {_area(t) for m, targets in GRAPH.items() if _area(m) == "frames" for t in targets} - {"frames"}
    assert above <= {"ops", "errors"}
