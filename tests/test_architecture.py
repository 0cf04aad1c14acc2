"""The package's import structure: no cycles between files, and units import only downward.

`LAYERS` is the map of docs/architecture.md, lowest first. A unit (a top-level module or subpackage of
warmstart) may import units of its own or a lower layer, never a higher one; imports inside functions
count too, except those of the optional heavy dependencies, which are not warmstart's own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import warmstart

PACKAGE = Path(warmstart.__file__).parent

LAYERS: list[set[str]] = [
    {"errors", "plain_data", "__init__"},
    {"config"},
    {"hardware"},
    {"models", "tokenization", "datasets", "masking"},
    {"collate", "data", "images"},
    {"objectives"},
    {"checkpoint"},
    {"evaluation"},
    {"training"},
    {"export", "serving"},
    {"demo", "image_demo", "sequence_demo"},
    {"cli", "__main__"},
]


def module_name(path: Path) -> str:
    parts = ("warmstart",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The warmstart modules that the file at `path` imports, anywhere in it."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name not in (here, "warmstart"):
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def unit(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_files(graph):
    assert cycles(graph) == []


def test_no_import_cycle_between_units(graph):
    units: dict[str, set[str]] = {}
    for source, targets in graph.items():
        units.setdefault(unit(source), set()).update(unit(t) for t in targets if unit(t) != unit(source))
    assert cycles(units) == []


def test_every_unit_has_a_layer(graph):
    known = set().union(*LAYERS)
    assert {unit(m) for m in graph} - known == set(), "add the new unit to LAYERS and to docs/architecture.md"


def test_units_import_only_their_own_or_lower_layers(graph):
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in graph.items()
        for target in targets
        if layer.get(unit(target), -1) > layer.get(unit(source), -1)
    )
    assert upward == []


# Sizes a reader can hold in mind: issue 17 asked for files of ~450 lines and functions of ~60 at most.
# A longer one needs a reason written on its `def` line (`# long: ...`) or at the top of its file.
MAX_FILE_LINES, MAX_FUNCTION_LINES = 470, 65


def test_files_and_functions_stay_small():
    import ast

    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(PACKAGE)
        if source.count("\n") > MAX_FILE_LINES and "# long file:" not in source:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and "# long:" not in lines[node.lineno - 1]:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert too_long == [], "split these, or write why beside them"
