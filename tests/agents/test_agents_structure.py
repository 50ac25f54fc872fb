"""The agents package's structure: the session's helpers stand on the core, not on the session,
and no module reaches another module's private members."""

from __future__ import annotations

import ast
from pathlib import Path

import realtime_agents.agents

PACKAGE = Path(realtime_agents.agents.__file__).parent
SESSION_USERS = {"__init__", "runner", "session"}
"""The only modules that may import `session` (the public face and what builds it)."""


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def local_imports(tree: ast.Module) -> set[str]:
    """The sibling modules a module imports, under TYPE_CHECKING or inside functions too."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def private_reaches(tree: ast.Module) -> list[str]:
    """`x._name` where `x` is not self/cls and `_name` is not defined in this file, and imports
    of private names."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [f"import {a.name}" for a in node.names if _private(a.name)]
        elif (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and node.attr not in own
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(ast.unparse(node))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_only_the_public_face_imports_the_session() -> None:
    importers = {name for name, tree in modules().items() if "session" in local_imports(tree)}
    assert importers <= SESSION_USERS


def test_the_session_helpers_form_no_import_circle() -> None:
    graph = {name: local_imports(tree) - {name} for name, tree in modules().items()}
    helpers = ["core", "agent_switch", "guardrails_runner", "input_guardrails_runner"]
    helpers += ["tool_calls", "model_events", "session"]

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            for dependency in graph.get(stack.pop(), ()):
                if dependency == goal:
                    return True
                if dependency not in seen:
                    seen.add(dependency)
                    stack.append(dependency)
        return False

    assert [name for name in helpers if reaches(name, name)] == []


def test_no_module_reaches_another_modules_private_members() -> None:
    reached = {name: private_reaches(tree) for name, tree in modules().items()}
    assert {name: found for name, found in reached.items() if found} == {}
