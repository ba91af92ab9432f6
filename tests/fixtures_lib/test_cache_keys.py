"""Tokens and digests behind the fixture cache's keys: equal content, equal key, in any process."""

from __future__ import annotations

import dataclasses
import enum
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl

from fixtures_lib.cache.keys import InputFiles, source_digest, token


class Colour(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class Window:
    start: int
    end: int


def test_sets_and_dicts_give_the_same_token_in_every_process() -> None:
    value = {"b": {3, 1, 2}, "a": ("x", 1.5, None, Colour.RED)}
    here = token(value)
    script = (
        "import enum\n"
        "from fixtures_lib.cache.keys import token\n"
        "class Colour(enum.Enum):\n    RED = 1\n"
        "print(token({'a': ('x', 1.5, None, Colour.RED), 'b': {2, 3, 1}}).hex())"
    )
    # a fresh interpreter has a different string-hash seed, so set order differs
    elsewhere = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert here is not None
    assert bytes.fromhex(elsewhere) == here


def test_different_values_give_different_tokens() -> None:
    pairs = [
        (1, 1.0),
        (1, True),
        ("1", 1),
        ((1, 2), [1, 2]),
        ({1: 2}, {2: 1}),
        (Window(1, 2), Window(1, 3)),
    ]
    for left, right in pairs:
        assert token(left) != token(right), (left, right)


def test_values_with_no_stable_content_have_no_token() -> None:
    assert token(object()) is None
    assert token(Path("/tmp/x")) is None
    assert token([1, object()]) is None


def test_dataframes_are_tokenised_by_content() -> None:
    frame = pl.DataFrame({"n": [1, 2, 3]})
    assert token(frame) == token(pl.DataFrame({"n": [1, 2, 3]}))
    assert token(frame) != token(pl.DataFrame({"n": [1, 2, 4]}))
    pandas_frame = pd.DataFrame({"n": [1, 2, 3]})
    assert token(pandas_frame) == token(pd.DataFrame({"n": [1, 2, 3]}))
    assert token(pandas_frame) != token(pd.DataFrame({"n": [3, 2, 1]}))


def load_function(path: Path, text: str) -> object:
    path.write_text(text)
    namespace: dict[str, object] = {}
    exec(compile(text, str(path), "exec"), namespace)  # a real file, so inspect finds the source
    function = namespace["build"]
    return getattr(function, "__wrapped__", function)


def test_source_digest_ignores_comments_and_decorators_unless_asked(tmp_path: Path) -> None:
    plain = load_function(tmp_path / "a.py", "def build():\n    return 1\n")
    commented = load_function(
        tmp_path / "b.py",
        "import functools\n\n@functools.cache\ndef build():\n    # why: reasons\n    return 1\n",
    )
    changed = load_function(tmp_path / "c.py", "def build():\n    return 2\n")
    assert source_digest(plain) == source_digest(commented)
    assert source_digest(plain) != source_digest(changed)
    assert source_digest(plain, decorators=True) != source_digest(commented, decorators=True)


def test_input_files_digest_follows_content_and_membership(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1")
    files = InputFiles(tmp_path)
    first = files.digest(["data/*.csv"])
    assert files.digest(["data/*.csv"]) == first
    (tmp_path / "data" / "a.csv").write_text("2")
    second = files.digest(["data/*.csv"])
    assert second != first
    (tmp_path / "data" / "b.csv").write_text("2")
    assert files.digest(["data/*.csv"]) not in {first, second}
