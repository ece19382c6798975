"""Imports inside `functions/` point down or sideways, never up, and packages import each other without cycles.

Every `.py` file under `functions/` is read with `ast` (nothing is imported): module-level imports, the lazy ones inside
triggers and functions, those under `if TYPE_CHECKING:` (a layering rule holds for types too), relative ones resolved
against the module's own package, and `from pkg import name` where `name` is a submodule. Only imports of `functions.*`
count; the standard library and third-party packages are ignored.
"""

from __future__ import annotations

import ast
import functools
import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

# =====================================================================================================================
# THE LAYER TABLE: bottom (0) to top (3). A module may import modules of its own layer or lower, never higher.
#
# A key places the package of that name and everything below it (the longest matching key wins), except "functions",
# which places only `functions/__init__.py` itself. A module under `functions/` that no entry places fails
# `test_every_module_is_placed`: a new package is placed here deliberately.
# =====================================================================================================================
LAYER_ORDER: tuple[str, ...] = ("core", "infrastructure", "process", "top")

PLACEMENT: dict[str, str] = {
    # -- layer 0: core ------------------------------------------------------------------------------------------------
    "functions": "core",  # functions/__init__.py only (an exact match, not a prefix)
    "functions.core": "core",
    # -- layer 1: infrastructure --------------------------------------------------------------------------------------
    "functions.adapters": "infrastructure",
    "functions.intake": "infrastructure",
    "functions.web": "infrastructure",
    # -- layer 2: process (one process may import another, e.g. questions re-classifies into incidents, if acyclic) --
    "functions.questions": "process",
    "functions.incidents": "process",
    "functions.alerts": "process",
    "functions.changes": "process",
    "functions.terms": "process",
    "functions.onboarding": "process",
    # -- layer 3: top -------------------------------------------------------------------------------------------------
    "functions.catalogue": "top",
    "functions.composition": "top",
    "functions.telemetry_setup": "top",
    "functions.registry_import": "top",
    "functions.cases": "top",
    "functions.operations": "top",
    "functions.workspace": "top",
    "functions.devhost": "top",
}

# Trigger modules (`functions.<pkg>.blueprint`) sit on top whatever package holds them; each is a graph node of its own.
TRIGGER_MODULE = "blueprint"
TRIGGER_LAYER = "top"

# What the mail intake (a layer-1 library) must never import; its trigger module is a top-layer module and exempt.
INTAKE = "functions.intake"
INTAKE_MUST_NOT_IMPORT: tuple[str, ...] = (
    *(package for package, layer in PLACEMENT.items() if layer == "process"),
    "functions.catalogue",
    "functions.cases",
    "functions.operations",
)
# =====================================================================================================================

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "functions"
UNPLACED = "unplaced"


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_trigger(module: str) -> bool:
    return is_under(module, PACKAGE) and module.rpartition(".")[2] == TRIGGER_MODULE


def layer_of(module: str) -> str | None:
    """The layer's name, or None when the table places no such module."""
    if is_trigger(module):
        return TRIGGER_LAYER
    if module == PACKAGE:
        return PLACEMENT[PACKAGE]
    matches = [prefix for prefix in PLACEMENT if prefix != PACKAGE and is_under(module, prefix)]
    return PLACEMENT[max(matches, key=len)] if matches else None


def rank(layer: str | None) -> int | None:
    return LAYER_ORDER.index(layer) if layer is not None else None


def node_of(module: str) -> str:
    """A module's node in the package graph: its first two dotted components, or the trigger module itself."""
    return module if is_trigger(module) else ".".join(module.split(".")[:2])


# --- reading imports -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: str  # relative to the repository, for file:line
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Scan:
    modules: Mapping[str, str]  # module name -> relative path
    imports: tuple[Import, ...]


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _from_base(node: ast.ImportFrom, package: str, where: str) -> str:
    """The module a `from X import ...` reads from, relative levels resolved against the importer's package."""
    if node.level == 0:
        assert node.module is not None, f"{where}: `from import` without a module"
        return node.module
    parts = package.split(".") if package else []
    keep = len(parts) - (node.level - 1)
    if keep <= 0:
        raise ValueError(f"{where}: relative import beyond the top-level package (level {node.level} in {package!r})")
    return ".".join([*parts[:keep], *([node.module] if node.module else [])])


def _dynamic_target(node: ast.Call) -> str | None:
    """`importlib.import_module("functions.x")` or `__import__("functions.x")` with a literal absolute name."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in {"import_module", "__import__"} or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
        return first.value
    return None


def read_imports(
    source: str, *, module: str, is_package: bool, known_modules: Iterable[str], path: str = "<string>"
) -> list[Import]:
    """Every import of `functions.*` in `source`, wherever it stands (module level, functions, TYPE_CHECKING)."""
    known = set(known_modules)
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, package, f"{path}:{node.lineno}")
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule if alias.name != "*" and submodule in known else base, node.lineno))
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)) is not None:
            found.append((target, node.lineno))
    return [
        Import(importer=module, imported=imported, path=path, line=line)
        for imported, line in sorted(set(found), key=lambda item: (item[1], item[0]))  # set: `from m import a, b`
        if is_under(imported, PACKAGE)
    ]


@functools.cache
def scan() -> Scan:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    modules = {module_name(file.relative_to(ROOT)): file.relative_to(ROOT).as_posix() for file in files}
    imports: list[Import] = []
    for module, path in modules.items():
        imports += read_imports(
            (ROOT / path).read_text(encoding="utf-8"),
            module=module,
            is_package=path.endswith("/__init__.py"),
            known_modules=modules,
            path=path,
        )
    return Scan(modules=modules, imports=tuple(imports))


# --- reporting -------------------------------------------------------------------------------------------------------


def describe(imports: Iterable[Import]) -> str:
    """One line per (importer, imported): `importer -> imported (layer a -> layer b)` and every file:line."""
    grouped: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for item in imports:
        grouped[item.importer, item.imported].append(item)
    lines = []
    for (importer, imported), items in sorted(grouped.items()):
        layers = f"{layer_of(importer) or UNPLACED} -> {layer_of(imported) or UNPLACED}"
        where = f"{items[0].path}:" + ",".join(str(item.line) for item in items)
        lines.append(f"  {importer} -> {imported} ({layers})  [{where}]")
    return "\n".join(lines)


def points_up(item: Import) -> bool:
    """True when the import goes to a higher layer, or either end is unplaced."""
    importer, imported = rank(layer_of(item.importer)), rank(layer_of(item.imported))
    return importer is None or imported is None or imported > importer


# --- the package graph -----------------------------------------------------------------------------------------------


def package_edges(imports: Iterable[Import]) -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for item in imports:
        source, target = node_of(item.importer), node_of(item.imported)
        if source != target:
            edges[source, target].append(item)
    return edges


def describe_edge(edge: tuple[str, str], example: Import) -> str:
    return f"{edge[0]} -> {edge[1]}: {example.importer} imports {example.imported}  [{example.where}]"


def strongly_connected(nodes: Iterable[str], successors: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(successors.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(successors.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_cycle(start: str, members: set[str], successors: Mapping[str, Iterable[str]]) -> list[str]:
    """A shortest cycle start -> ... -> start inside one strongly connected component (breadth first)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(successors.get(node, ())):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in a component without a cycle through it")


# --- the tests -------------------------------------------------------------------------------------------------------


def test_every_module_is_placed() -> None:
    unplaced = sorted(f"  {module}  [{path}]" for module, path in scan().modules.items() if layer_of(module) is None)
    assert not unplaced, "Modules the layer table at the top of this test does not place:\n" + "\n".join(unplaced)


def test_core_imports_nothing_above_it() -> None:
    offenders = [
        item
        for item in scan().imports
        if layer_of(item.importer) == LAYER_ORDER[0] and layer_of(item.imported) != LAYER_ORDER[0]
    ]
    assert not offenders, f"{LAYER_ORDER[0]} (layer 0) imports from above itself:\n{describe(offenders)}"


def test_intake_imports_no_process() -> None:
    offenders = [
        item
        for item in scan().imports
        if is_under(item.importer, INTAKE)
        and not is_trigger(item.importer)
        and any(is_under(item.imported, forbidden) for forbidden in INTAKE_MUST_NOT_IMPORT)
    ]
    assert not offenders, f"{INTAKE} imports a process package, catalogue, cases or operations:\n{describe(offenders)}"


def test_every_import_points_down_or_sideways() -> None:
    offenders = [item for item in scan().imports if points_up(item)]
    order = " < ".join(f"{rank}:{name}" for rank, name in enumerate(LAYER_ORDER))
    assert not offenders, f"Imports that point up ({order}) or to an unplaced module:\n{describe(offenders)}"


def test_no_import_cycles_between_packages() -> None:
    edges = package_edges(scan().imports)
    successors: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        successors[source].add(target)
    nodes = {node for edge in edges for node in edge}
    cycles = [component for component in strongly_connected(nodes, successors) if len(component) > 1]
    reports = []
    for component in cycles:
        members = set(component)
        hops = list(itertools.pairwise(shortest_cycle(component[0], members, successors)))
        others = sorted(edge for edge in edges if set(edge) <= members and edge not in hops)
        lines = [f"  cycle among {', '.join(component)}:", f"    {' -> '.join([*(a for a, _ in hops), hops[0][0]])}"]
        lines += [f"      {describe_edge(edge, edges[edge][0])}" for edge in hops]
        lines += [f"    also {describe_edge(edge, edges[edge][0])}" for edge in others]
        reports.append("\n".join(lines))
    assert not cycles, "Import cycles between packages:\n" + "\n".join(reports)


def test_the_layer_table_places_triggers_on_top() -> None:
    assert layer_of("functions") == "core"
    assert layer_of("functions.core.services") == "core"
    assert layer_of("functions.web.http") == "infrastructure"
    assert layer_of("functions.intake.parser") == "infrastructure"
    assert layer_of("functions.intake.blueprint") == "top"
    assert layer_of("functions.questions.workflow") == "process"
    assert layer_of("functions.devhost.__main__") == "top"
    assert layer_of("functions.unknown") is None
    assert layer_of("functionsx.core") is None
    assert node_of("functions.questions.workflow") == "functions.questions"
    assert node_of("functions.questions.blueprint") == "functions.questions.blueprint"
    assert node_of("functions") == "functions"


SELF_TEST_SOURCE = '''
"""A pretend trigger module: what the real triggers do, and the forms imports take."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import azure.functions as func

import functions.core.model
from . import views, helpers_not_a_module

if TYPE_CHECKING:
    from ..web.http import Request


def handler(req: func.HttpRequest) -> None:
    from ..core.services import get_services
    from .views import render as render_view
'''


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    known = {"functions.cases", "functions.cases.views", "functions.core.services", "functions.core.model"}
    imports = read_imports(SELF_TEST_SOURCE, module="functions.cases.blueprint", is_package=False, known_modules=known)
    assert [(item.imported, item.line) for item in imports] == [
        ("functions.core.model", 10),
        ("functions.cases", 11),  # `helpers_not_a_module` is a name in the package, not a submodule
        ("functions.cases.views", 11),  # `from . import views`: the submodule itself
        ("functions.web.http", 14),  # under TYPE_CHECKING: counted
        ("functions.core.services", 18),  # lazy, inside the function
        ("functions.cases.views", 19),
    ]
    assert {item.importer for item in imports} == {"functions.cases.blueprint"}

    # In a package's __init__ the relative base is the package itself, not its parent.
    inside_init = read_imports(
        "from . import views\nfrom .. import core\nfrom ..core.model import Case\n",
        module="functions.cases",
        is_package=True,
        known_modules=known | {"functions.core"},
    )
    assert [item.imported for item in inside_init] == [
        "functions.cases.views",
        "functions.core",
        "functions.core.model",
    ]
    with pytest.raises(ValueError, match="beyond the top-level package"):
        read_imports("from ... import x\n", module="functions.core", is_package=True, known_modules=known)

    found = scan()
    assert len(found.modules) > 50, f"the scan of {ROOT / PACKAGE} found only {len(found.modules)} modules"
    assert "functions" in found.modules and "functions.core" in found.modules
    assert any(item.imported in found.modules for item in found.imports), "the scan resolved no import to a module"
