"""The layers stay layers: no import cycles between packages, components use the plugin API.

Imports are read from the source (module level and inside functions; `if TYPE_CHECKING:`
blocks are left out, since they never run). The deprecated modules that keep old paths
working import across layers on purpose and are left out too.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: source folder -> the package it installs as
PACKAGE_DIRS = {
    "streamforge": "streamforge",
    "inputs": "streamforge.inputs",
    "processors": "streamforge.processors",
    "outputs": "streamforge.outputs",
    "caches": "streamforge.caches",
    "simulators": "streamforge.simulators",
}
#: modules kept for the old import paths (they re-export across layers)
DEPRECATED = {"streamforge.components", "streamforge.stateful", "streamforge._moved"}
COMPONENT_PACKAGES = ("streamforge.inputs", "streamforge.processors", "streamforge.outputs",
                      "streamforge.caches")  # fmt: skip
#: what components may not import: the layers above them (the plugin API offers what they need)
ABOVE_COMPONENTS = ("streamforge.engine", "streamforge.runtime", "streamforge.config",
                    "streamforge.commands", "streamforge.observability", "streamforge.configtest",
                    "streamforge.cli")  # fmt: skip


def modules() -> Iterator[tuple[str, Path]]:
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join([package, *parts]), path


def imports(path: Path) -> list[str]:
    """Absolute `streamforge` imports of a file, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [m for m in found if m == "streamforge" or m.startswith("streamforge.")]


def package_of(module: str) -> str:
    """The top-level package (or module) of `streamforge.x.y`: `streamforge.x`."""
    return ".".join(module.split(".")[:2])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_top_level_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for module, path in modules():
        if module in DEPRECATED:
            continue
        source = package_of(module)
        for target in map(package_of, imports(path)):
            if target != source and target != "streamforge":
                edges[source].add(target)
                why.setdefault((source, target), module)
    found = cycles(edges)
    report = [
        " -> ".join(group) + ": "
        + "; ".join(f"{why[(a, b)]} imports {b}" for a in group for b in group if (a, b) in why)
        for group in found
    ]  # fmt: skip
    assert found == [], "\n".join(report)


def test_components_import_the_plugin_api_not_the_layers_above() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, path in modules()
        if module.startswith(COMPONENT_PACKAGES)
        for target in imports(path)
        if target.startswith(ABOVE_COMPONENTS)
    ]
    assert wrong == []


def test_no_module_imports_another_packages_private_module() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, path in modules()
        if module not in DEPRECATED
        for target in imports(path)
        if target.rpartition(".")[2].startswith("_")
        and not target.rpartition(".")[2].startswith("__")
        and not module.startswith(target.rpartition(".")[0] + ".")
    ]
    assert wrong == []


def test_every_package_is_in_the_wheel() -> None:
    """A sub-package missing from pyproject's list would be missing from the installed wheel."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M)
    assert block is not None
    listed = set(re.findall(r'"([^"]+)"', block.group(1)))
    on_disk = {module for module, path in modules() if path.name == "__init__.py"}
    assert on_disk - listed == set()
