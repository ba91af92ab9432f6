"""optikit's markers, and their registration in the project's own pytest configuration.

optikit's plugin registers ``slow``, ``serial`` and ``real_llm`` in every session where it is
installed. A checkout without optikit (a contributor's, a CI job that does not install it)
would then fail to collect once a codemod has added a mark: ``'slow' not found in markers
configuration`` under ``strict = true``/``--strict-markers``, or ``PytestUnknownMarkWarning``
as an error under ``filterwarnings = error``. So ``optikit init`` and the mark codemods'
``--apply`` write the markers into the file pytest reads its configuration from (in pytest's
own order of precedence), keeping the rest of that file as it was: TOML through tomlkit,
INI files by inserting lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKERS = {
    "slow": "a slow test; deselect with '-m \"not slow\"' (added by optikit codemod mark-slow)",
    "serial": "must not run in parallel with other tests (added by optikit codemod mark-serial)",
    "real_llm": "talks to a real LLM and is never replayed from a cassette",
}

# pytest's own order (_pytest.config.findpaths.CONFIG_LOADERS_BY_NAME): the file name, and
# the table or section that holds the options.
CONFIG_FILES: list[tuple[str, tuple[str, ...]]] = [
    ("pytest.toml", ("pytest",)),
    (".pytest.toml", ("pytest",)),
    ("pytest.ini", ("pytest",)),
    (".pytest.ini", ("pytest",)),
    ("pyproject.toml", ("tool", "pytest", "ini_options")),
    ("tox.ini", ("pytest",)),
    ("setup.cfg", ("tool:pytest",)),
]


def pytest_config(root: Path) -> tuple[Path, tuple[str, ...]]:
    """The file in ``root`` that pytest takes its configuration from, and the table in it;
    ``pyproject.toml``'s ``[tool.pytest.ini_options]`` when there is none yet."""
    for name, table in CONFIG_FILES:
        path = root / name
        if not path.is_file():
            continue
        if name in ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"):
            return path, table  # pytest takes these even when empty
        if name == "pyproject.toml":
            tool = _table(_toml(path), ("tool", "pytest"))
            if tool:
                # [tool.pytest] with keys of its own is pytest 9's native TOML mode
                native = any(key != "ini_options" for key in tool)
                return path, ("tool", "pytest") if native else table
        elif _ini_section(path.read_text(encoding="utf-8"), table[0]) is not None:
            return path, table
    return root / "pyproject.toml", ("tool", "pytest", "ini_options")


def registered(root: Path) -> set[str]:
    """The marker names the project's pytest configuration registers."""
    value = _setting(root, "markers") or []
    lines = value if isinstance(value, list) else str(value).splitlines()
    return {re.split(r"[:(]", str(line), maxsplit=1)[0].strip() for line in lines}


def addopts_marks(root: Path) -> str | None:
    """The ``-m`` expression in the project's ``addopts`` (``-m 'not stress'``), if any: a
    command that passes its own ``-m`` replaces it (pytest keeps the last one), so optikit's
    commands and-in this one."""
    import shlex

    value = _setting(root, "addopts") or ""
    args = [str(a) for a in value] if isinstance(value, list) else shlex.split(str(value))
    expression = None
    for index, arg in enumerate(args):
        if arg == "-m" and index + 1 < len(args):
            expression = args[index + 1]
        elif arg.startswith("-m") and not arg.startswith("--") and len(arg) > 2:
            expression = arg[2:]
    return expression


def _setting(root: Path, key: str) -> object:
    """``key`` in the project's pytest configuration as the file has it: a TOML value, or an
    INI value's lines joined by newlines; None when it is not set."""
    path, table = pytest_config(root)
    if not path.exists():
        return None
    if path.suffix == ".toml":
        return _table(_toml(path), table).get(key)
    lines = _ini_lines(path.read_text(encoding="utf-8"), table[0], key)
    return "\n".join(lines) if lines else None


def register(root: Path, names: list[str]) -> tuple[Path, list[str]]:
    """Add the markers ``names`` that the project's pytest configuration does not register;
    the file, and the names added (none: the file is not touched)."""
    from fixtures_lib.atomic import write_text_atomic

    path, table = pytest_config(root)
    missing = [name for name in names if name not in registered(root)]
    if not missing:
        return path, []
    lines = [f"{name}: {MARKERS[name]}" for name in missing]
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if path.suffix == ".toml":
        new = _add_toml(text, table, lines)
    else:
        new = _add_ini(text, table[0], lines)
    write_text_atomic(path, new)
    return path, missing


def _toml(path: Path) -> dict[str, Any]:
    from optikit.config import read_toml

    return read_toml(path)


def _table(document: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The table at ``keys``; empty when any of them is missing or not a table."""
    for key in keys:
        value = document.get(key)
        document = value if isinstance(value, dict) else {}
    return document


def _add_toml(text: str, table: tuple[str, ...], lines: list[str]) -> str:
    import tomlkit

    document = tomlkit.parse(text)
    container: tomlkit.TOMLDocument | tomlkit.items.Table = document
    for depth, key in enumerate(table):
        if key not in container:
            # a table only the last key of which gets a header of its own ([tool.pytest...])
            container[key] = tomlkit.table(is_super_table=depth < len(table) - 1)
        container = container[key]
    markers = container.get("markers")
    if markers is None:
        array = tomlkit.array()
        array.extend(lines)
        container["markers"] = array.multiline(True)
    else:
        markers.extend(lines)
    return tomlkit.dumps(document)


INDENT = "    "


def _ini_section(text: str, section: str) -> tuple[int, int] | None:
    """The line range of ``[section]`` (header included), or None."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        return None
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
        len(lines),
    )
    return start, end


def _ini_lines(text: str, section: str, key: str = "markers") -> list[str]:
    """The lines of ``key =`` in ``[section]``: the key's own value, then its indented
    continuation lines."""
    found = _ini_section(text, section)
    span = _key_span(text.splitlines(), *found, key) if found else None
    if span is None:
        return []
    rows = text.splitlines()
    first = re.split(r"[=:]", rows[span[0]], maxsplit=1)[1]
    values = [first, *rows[span[0] + 1 : span[1] + 1]]
    return [value.strip() for value in values if value.strip()]


def _key_span(
    rows: list[str], start: int, end: int, name: str = "markers"
) -> tuple[int, int] | None:
    """The lines of key ``name`` in a section: its own line and its last continuation line
    (indented; blank lines between them belong to the value, as configparser reads it:
    aiohttp's ``addopts`` has its ``-m`` after two of them)."""
    pattern = re.compile(rf"{name}\s*[=:]")
    key = next((i for i in range(start + 1, end) if pattern.match(rows[i])), None)
    if key is None:
        return None
    last = key
    for index in range(key + 1, end):
        if rows[index].strip() and rows[index][:1] not in (" ", "\t"):
            break  # the next key or a comment at the margin
        if rows[index].strip():
            last = index
    return key, last


def _add_ini(text: str, section: str, lines: list[str]) -> str:
    """``lines`` added at the end of ``markers =`` in ``[section]`` (either created when
    missing); every other line kept as it was."""
    rows = text.splitlines()
    found = _ini_section(text, section)
    if found is None:
        separator = [""] if rows and rows[-1].strip() else []
        rows += [*separator, f"[{section}]", "markers =", *(INDENT + line for line in lines)]
    elif (span := _key_span(rows, *found)) is None:
        rows[found[0] + 1 : found[0] + 1] = ["markers =", *(INDENT + line for line in lines)]
    else:
        key, last = span
        indent = rows[last][: len(rows[last]) - len(rows[last].lstrip())] if last > key else ""
        rows[last + 1 : last + 1] = [(indent or INDENT) + line for line in lines]
    return "\n".join(rows) + "\n"
