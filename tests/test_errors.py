"""Every exception class the library defines derives from `RealtimeAgentsError`."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import realtime_agents
from realtime_agents import MissingApiKeyError, RealtimeAgentsError
from realtime_agents.audio import AudioFormatError
from realtime_agents.providers.openai import RealtimeConnectionError
from realtime_agents.testing import RealtimeScriptError

SOURCE = Path(realtime_agents.__file__).parent


def _modules() -> tuple[list[str], list[str]]:
    """Importable module names, and those skipped for an optional dependency not installed."""
    imported, skipped = [], []
    for module in pkgutil.walk_packages(realtime_agents.__path__, "realtime_agents."):
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as error:
            if (error.name or "").startswith("realtime_agents"):
                raise
            skipped.append(module.name)
        else:
            imported.append(module.name)
    return imported, skipped


def test_every_exception_class_in_the_package_derives_from_the_base() -> None:
    imported, _ = _modules()
    exceptions = {
        obj
        for name in imported
        for obj in vars(importlib.import_module(name)).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == name
    }
    assert len(exceptions) >= 10  # the walk found the package's exceptions
    assert RealtimeAgentsError in exceptions
    outside = sorted(
        f"{e.__module__}.{e.__qualname__}"
        for e in exceptions
        if not issubclass(e, RealtimeAgentsError)
    )
    assert outside == []


def test_every_class_on_a_builtin_exception_also_names_the_base() -> None:
    """By source, so that modules whose optional dependencies are missing count too (and
    classes defined inside functions)."""
    builtin_exceptions = {
        name
        for name, value in vars(builtins).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    offenders = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
            if bases & builtin_exceptions and not (
                {"RealtimeAgentsError"} <= bases or node.name == "RealtimeAgentsError"
            ):
                offenders.append(f"{path.relative_to(SOURCE)}:{node.name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (MissingApiKeyError, RuntimeError),
        (AudioFormatError, ValueError),
        (RealtimeConnectionError, ConnectionError),
        (RealtimeScriptError, AssertionError),
    ],
)
def test_exceptions_keep_their_builtin_bases(
    error: type[Exception], builtin: type[Exception]
) -> None:
    with pytest.raises(builtin) as caught:
        raise error("why")
    assert isinstance(caught.value, RealtimeAgentsError)
