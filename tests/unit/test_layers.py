"""The layers of src/bunkhouse hold (DESIGN.md, "Layers"): read from the code's own imports,
every one of them (a function's own imports and typing-only ones included).

- core, runner, fleet and identity import no product package; no package imports one above
  it (each package's allowed imports are listed below, bottom layer first);
- no import cycle between modules;
- no module over 400 lines and no class over 250.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "bunkhouse"
PRODUCTS = {"reservations", "challenges", "profiles", "tasks"}
# What each package may import, besides itself and bunkhouse/__init__ (the version).
ALLOWED = {
    "config": set(),
    "core": {"config"},
    "runner": {"config", "core"},
    "fleet": {"config", "core", "runner"},
    "identity": {"config", "core"},
    "jobs": {"config", "core"},
    "web": {"config", "core", "fleet", "identity"},
    "reservations": {"config", "core", "runner", "fleet", "identity", "jobs", "web"},
    "profiles": {"config", "core", "runner", "fleet", "identity", "jobs", "web"},
    "cli": {"config", "core", "identity", "web"},
}
# The wiring on top may import anything.
TOP = {"app", "lifecycle", "wsgi"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in SOURCE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The bunkhouse modules a file imports (a `from package import module` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bunkhouse")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bunkhouse"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_layout_is_the_layers_of_the_design():
    present = {package(module) for module in MODULES} - {""}
    assert {"core", "runner", "fleet", "identity", "jobs", "web", "cli", "reservations", "app", "wsgi"} <= present
    assert present - set(ALLOWED) - TOP - PRODUCTS == set(), "a package the layers do not name"


@pytest.mark.parametrize("low", ["core", "runner", "fleet", "identity"])
def test_the_lower_layers_import_no_product(low):
    offending = {(module, imported) for module, imported_set in GRAPH.items() if package(module) == low
                 for imported in imported_set if package(imported) in PRODUCTS}
    assert offending == set()


def test_no_package_imports_one_above_it():
    offending = set()
    for module, imported_set in GRAPH.items():
        own = package(module)
        if own in TOP or own == "":
            continue
        allowed = ALLOWED.get(own, ALLOWED["reservations"] if own in PRODUCTS else set())
        for imported in imported_set:
            other = package(imported)
            if other not in ("", own) and other not in allowed:
                offending.add((module, imported))
    assert offending == set()


def test_there_is_no_import_cycle():
    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(GRAPH.get(module, ())):
            if imported not in MODULES:
                continue
            if state.get(imported) == "open":
                cycles.append(stack[stack.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_modules_and_classes_stay_small():
    over = []
    for name, path in MODULES.items():
        text = path.read_text()
        if len(text.splitlines()) > 400:
            over.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:
                over.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert over == []


def test_one_module_imports_ansible_runner():
    users = [name for name, path in MODULES.items()
             if any(isinstance(node, (ast.Import, ast.ImportFrom)) and "ansible_runner" in ast.unparse(node)
                    for node in ast.walk(ast.parse(path.read_text())))]
    assert users == ["bunkhouse.runner.invoke"]
