"""Run the real `realtime-agents` command in a subprocess, optionally with modules hidden."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import realtime_agents

SOURCE = str(Path(realtime_agents.__file__).resolve().parents[1])
BLOCKER = """
import importlib.abc, sys

BLOCKED = {blocked!r}


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
"""
MODEL_LOADED = ("loading ", "loaded in", "engines ready", "Loading the offline models")
"""Progress lines printed once model loading starts (none may precede a preflight error)."""


@dataclass(frozen=True)
class Result:
    """A finished command: exit code and its output."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def hint_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("hint:")]


def environment(tmp_path: Path | None = None, blocked: tuple[str, ...] = ()) -> dict[str, str]:
    """The subprocess environment: this source tree first, `blocked` modules unimportable."""
    paths = [SOURCE]
    if blocked:
        assert tmp_path is not None
        hider = tmp_path / "hider"
        hider.mkdir(exist_ok=True)
        (hider / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
        paths.insert(0, str(hider))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("REALTIME_AGENTS_API_KEY", None)
    return env


def command(*args: str) -> list[str]:
    """The argv that runs `realtime-agents args...` with this interpreter."""
    return [sys.executable, "-m", "realtime_agents", *args]


def run_cli(
    *args: str, tmp_path: Path | None = None, blocked: tuple[str, ...] = (), timeout: float = 120
) -> Result:
    """Run the command to completion."""
    done = subprocess.run(
        command(*args),
        env=environment(tmp_path, blocked),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_hint(hint: str, tmp_path: Path | None = None, timeout: float = 120) -> Result:
    """Run the `realtime-agents ...` command a hint line suggests."""
    words = shlex.split(hint.removeprefix("hint:").strip())
    assert words[0] == "realtime-agents", hint
    return run_cli(*words[1:], tmp_path=tmp_path, timeout=timeout)


def assert_one_line_error(result: Result, returncode: int, *, hint: str | None = None) -> str:
    """One `error:` line, the hint if expected (at most one), no traceback, no model loaded."""
    assert result.returncode == returncode, result
    assert len(result.error_lines) == 1, result.stderr
    assert len(result.hint_lines) <= 1, result.stderr
    if hint is not None:
        assert result.hint_lines and hint in result.hint_lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not any(marker in result.stderr + result.stdout for marker in MODEL_LOADED), result
    return result.error_lines[0]


class Running:
    """A command running in the background, read line by line until a marker appears."""

    def __init__(self, *args: str, tmp_path: Path | None = None) -> None:
        self.process = subprocess.Popen(
            command(*args),
            env=environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        self.output: list[str] = []

    def wait_for(self, marker: str) -> None:
        """Read output until a line holds `marker` (fails if the process ends first)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if marker in line:
                return
        raise AssertionError(f"{marker!r} never printed: {''.join(self.output)}")

    def interrupt(self, timeout: float = 60) -> Result:
        """Send SIGINT (Ctrl-C) and collect the rest."""
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=timeout)
        text = "".join(self.output) + rest
        return Result(self.process.returncode, text, text)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
