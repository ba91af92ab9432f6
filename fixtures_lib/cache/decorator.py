"""``@cached_fixture``: ``@pytest.fixture`` whose value is kept on disk across runs and workers.

The fixture function is wrapped in a generator fixture that asks for ``request`` as well; pytest
sees the wrapper's signature (the original one plus ``request``) and so still resolves every
dependency itself. On a hit the function does not run at all; for a generator fixture that
means neither its setup nor its teardown runs, because nothing was set up. On a miss a
generator fixture runs as usual: its value is stored when it yields, its teardown runs after
the test.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import pytest

from fixtures_lib.cache.session import cache_session

F = TypeVar("F", bound=Callable[..., Any])
KeyFunction = Callable[[pytest.FixtureRequest], Any]
Scope = Literal["session", "package", "module", "class", "function"]


@overload
def cached_fixture(fixture_function: F) -> F: ...


@overload
def cached_fixture(
    fixture_function: None = None,
    *,
    scope: Scope = "function",
    params: Iterable[object] | None = None,
    autouse: bool = False,
    ids: Sequence[object | None] | Callable[[Any], object | None] | None = None,
    name: str | None = None,
    version: str = "",
    key: KeyFunction | None = None,
    inputs: Sequence[str] = (),
) -> Callable[[F], F]: ...


def cached_fixture(
    fixture_function: F | None = None,
    *,
    scope: Scope = "function",
    params: Iterable[object] | None = None,
    autouse: bool = False,
    ids: Sequence[object | None] | Callable[[Any], object | None] | None = None,
    name: str | None = None,
    version: str = "",
    key: KeyFunction | None = None,
    inputs: Sequence[str] = (),
) -> F | Callable[[F], F]:
    """Like ``pytest.fixture``, plus what the cached value depends on beyond its source.

    ``version``: bump it to throw away what is cached (say, when a helper the fixture calls
    changed). ``key``: a function of the request returning plain values to hash (say, an
    environment variable the value depends on). ``inputs``: glob patterns, relative to the
    rootdir, of files whose contents the value is built from.
    """

    def decorate(function: F) -> F:
        wrapper = _caching_wrapper(function, version=version, key=key, inputs=tuple(inputs))
        fixture = pytest.fixture(
            wrapper,
            scope=scope,
            params=params,
            autouse=autouse,
            ids=ids,
            name=name,
        )
        return fixture  # type: ignore[return-value]  # pytest's wrapper object stands in for F

    return decorate(fixture_function) if fixture_function is not None else decorate


def _caching_wrapper(
    function: Callable[..., Any],
    *,
    version: str,
    key: KeyFunction | None,
    inputs: tuple[str, ...],
) -> Callable[..., Generator[Any, None, None]]:
    signature = inspect.signature(function)
    wants_request = "request" in signature.parameters
    parameters = list(signature.parameters.values())
    if not wants_request:
        parameters.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY))
    is_generator = inspect.isgeneratorfunction(function)
    label = f"{function.__module__}.{function.__qualname__}"

    @functools.wraps(function)
    def wrapper(**arguments: Any) -> Generator[Any, None, None]:
        request: pytest.FixtureRequest = (
            arguments["request"] if wants_request else arguments.pop("request")
        )
        generator: Generator[Any, None, None] | None = None

        def build() -> Any:
            nonlocal generator
            if is_generator:
                generator = function(**arguments)
                return next(generator)
            return function(**arguments)

        session = cache_session(request.config)
        if session is None:
            value = build()
        else:
            cache_key = session.key_for(
                label, function, request, arguments, version=version, key=key, inputs=inputs
            )
            value = session.fetch(label, cache_key, build, functools.partial(_scratch, request))
            session.remember(request.fixturename or function.__name__, value, cache_key)
        yield value
        if generator is not None:
            for _ in generator:
                raise RuntimeError(f"fixture {function.__name__} yielded more than once")

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return wrapper


def _scratch(request: pytest.FixtureRequest) -> Path:
    """A fresh directory under pytest's own temporary root, cleaned up by pytest's retention."""
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    return factory.mktemp("cached", numbered=True)
