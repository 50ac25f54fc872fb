"""The Python snippets in docs/*.md run: each fenced block is executed and its tests called."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _snippets() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for index, code in enumerate(BLOCK.findall(path.read_text())):
            found.append((f"{path.name}#{index}", code))
    return found


@pytest.mark.parametrize(("name", "code"), _snippets(), ids=[n for n, _ in _snippets()])
async def test_snippet_runs(name: str, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{name}"}
    exec(compile(code, name, "exec"), namespace)
    tests = [f for key, f in namespace.items() if key.startswith("test_") and callable(f)]
    for test in tests:
        result = test()
        if inspect.isawaitable(result):
            await result
