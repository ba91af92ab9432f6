"""Dependencies point one way: every import between capabilities goes down the layers below.

A module may import its own capability freely; across capabilities only a lower layer, and two
capabilities on one layer (``timing`` and ``audit``; ``cache`` and ``cassettes``) never import
each other, so no cycle between subpackages can form. ``codemods`` and ``fixtures_lib`` never
import ``optikit``. Imports inside functions count: they are still dependencies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("optikit", "fixtures_lib", "codemods")

# The capability a module belongs to (its longest matching prefix) and that capability's layer.
LAYERS: dict[str, int] = {
    "optikit": 0,  # __init__: the version only
    "optikit.errors": 0,
    "optikit.testing": 0,
    "optikit.config": 1,
    "optikit.timing": 2,
    "optikit.audit": 2,
    "optikit.markers": 2,  # in the project's pytest config: uses config and atomic writes
    "optikit.plugin": 3,
    "optikit.gate": 4,
    "optikit.performance_checks": 5,  # the public path of gate.checks
    "optikit.report": 5,
    "optikit.cli": 6,
    "optikit.__main__": 7,
    "fixtures_lib.atomic": 0,
    "fixtures_lib.cache": 1,
    "fixtures_lib.cassettes": 1,
    "fixtures_lib.datasets": 2,
    "fixtures_lib.hookspecs": 3,
    "fixtures_lib.plugin": 4,
    "fixtures_lib": 5,  # __init__: the public names, imported lazily
    "codemods": 1,  # writes through fixtures_lib.atomic
}
NEVER = {"codemods": "optikit", "fixtures_lib": "optikit"}


def capability(module: str) -> str | None:
    """The longest key of LAYERS that is ``module`` or one of its parent packages."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in LAYERS:
            return name
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import, relative ones resolved; ``from a import b``
    yields ``a.b`` too, since ``b`` may be a submodule."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(edges: Iterable[tuple[str, int, str]]) -> list[str]:
    """Each import (module, line, target) that points up, sideways, or where it never may."""
    found = []
    for module, line, target in edges:
        source, dest = capability(module), capability(target)
        if source is None or dest is None or source == dest:
            continue
        if dest.split(".")[0] == NEVER.get(source.split(".")[0]):
            found.append(f"{module}:{line} imports {target}: {source} never imports optikit")
        elif source.startswith(f"{dest}.") or dest.startswith(f"{source}."):
            continue  # a package and its own modules (the __init__ layers of fixtures_lib)
        elif LAYERS[dest] >= LAYERS[source]:
            where = "a layer above" if LAYERS[dest] > LAYERS[source] else "its own layer"
            found.append(f"{module}:{line} imports {target}: {dest} is on {where}")
    return found


def project_edges() -> list[tuple[str, int, str]]:
    edges = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = module_name(path)
            edges += [(module, line, target) for line, target in imports(path, module)]
    return edges


def test_every_module_belongs_to_a_capability() -> None:
    modules = {module for module, _, _ in project_edges()}
    assert len(modules) > 50
    assert [m for m in modules if capability(m) is None] == []


def test_imports_point_down_the_layers() -> None:
    assert violations(project_edges()) == []


@pytest.mark.parametrize(
    ("edge", "complaint"),
    [
        (("optikit.timing.tracker", 3, "optikit.gate.verdict"), "a layer above"),
        (("optikit.audit.runs", 4, "optikit.timing.history"), "its own layer"),
        (("optikit.gate.baseline", 5, "optikit.report.build"), "a layer above"),
        (("fixtures_lib.cache.store", 6, "fixtures_lib.cassettes.format"), "its own layer"),
        (("codemods.runner", 7, "optikit.config"), "never imports optikit"),
        (("fixtures_lib.plugin", 8, "optikit.errors"), "never imports optikit"),
    ],
)
def test_an_upward_or_sideways_import_is_named_with_its_line(
    edge: tuple[str, int, str], complaint: str
) -> None:
    (found,) = violations([edge])
    assert found.startswith(f"{edge[0]}:{edge[1]} imports {edge[2]}")
    assert complaint in found


def test_downward_and_internal_imports_pass() -> None:
    edges = [
        ("optikit.cli.app", 1, "optikit.gate.verdict"),
        ("optikit.gate.verdict", 2, "optikit.timing.run_record"),
        ("optikit.timing.tracker", 3, "optikit.timing.history"),
        ("optikit.timing.tracker", 4, "fixtures_lib.cache.session"),
        ("fixtures_lib.datasets", 5, "fixtures_lib.cache.keys"),
    ]
    assert violations(edges) == []


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text("from . import history\nfrom ..gate import verdict\n")
    assert set(imports(path, "optikit.timing.tracker")) == {
        (1, "optikit.timing"),
        (1, "optikit.timing.history"),
        (2, "optikit.gate"),
        (2, "optikit.gate.verdict"),
    }
