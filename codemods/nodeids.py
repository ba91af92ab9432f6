"""Pytest node ids, split into the parts a codemod looks for in source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestId:
    """``tests/test_a.py::TestX::test_y[1-2]`` as path, enclosing classes, name and case id."""

    path: str
    classes: tuple[str, ...]
    name: str
    case: str | None

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        """What identifies the test's function within its file."""
        return self.classes, self.name


def parse_nodeid(nodeid: str) -> TestId | None:
    """``None`` for ids that name no function (a module, a doctest file, a bare path)."""
    path, separator, rest = nodeid.partition("::")
    if not separator or not rest:
        return None
    case: str | None = None
    bracket = rest.find("[")
    if bracket != -1 and rest.endswith("]"):
        rest, case = rest[:bracket], rest[bracket + 1 : -1]
    *classes, name = rest.split("::")
    if not name.isidentifier() or not all(c.isidentifier() for c in classes):
        return None
    return TestId(path=path, classes=tuple(classes), name=name, case=case)
