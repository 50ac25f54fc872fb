"""The example scripts: shipped in the wheel as `realtime_agents/examples`, or read from the
source checkout's `examples/`; `realtime-agents example` lists, prints and runs them."""

from __future__ import annotations

import ast
import runpy
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from .preflight import PreflightError


def examples_directory() -> Path:
    """Where the examples are: inside the installed package, else the source checkout."""
    shipped = Path(str(files("realtime_agents"))) / "examples"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "examples"


def available() -> dict[str, Path]:
    """Example name (file stem) -> path."""
    directory = examples_directory()
    if not directory.is_dir():
        return {}
    return {path.stem: path for path in sorted(directory.glob("*.py"))}


def summary(path: Path) -> str:
    """The first line of an example's docstring."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.splitlines()[0] if docstring else ""


def find(name: str) -> Path:
    """The example called `name`, or the only one whose name starts with it."""
    examples = available()
    if name in examples:
        return examples[name]
    matches = [path for stem, path in examples.items() if stem.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(examples) or "none found"
    raise PreflightError(
        f"no example called {name!r} (examples: {known})", "realtime-agents example"
    )


def listing() -> str:
    """One line per example: its name and what it shows."""
    lines = [f"  {stem:<20} {summary(path)}" for stem, path in available().items()]
    return "\n".join(
        [
            "examples (run one with `realtime-agents example NAME [ARGS]`, "
            "save one with `realtime-agents example --source NAME > NAME.py`):",
            *lines,
        ]
    )


def run(path: Path, arguments: Sequence[str]) -> None:
    """Run an example as `__main__` with `arguments` as its command line."""
    saved = sys.argv
    sys.argv = [str(path), *arguments]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved
