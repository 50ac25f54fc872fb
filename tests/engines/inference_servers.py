"""Real OpenAI-compatible inference servers in subprocesses on 127.0.0.1, for the engine tests.

(A module of its own, not conftest: `from conftest import ...` picks whichever conftest was
imported first when several test directories run together.)
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence

START_TIMEOUT_S = 120.0
"""Loading a small model takes seconds; generous because the test machine may be shared."""


def missing(modules: Sequence[str]) -> list[str]:
    """The modules of `modules` that cannot be imported (found without importing them)."""
    return [module for module in modules if importlib.util.find_spec(module) is None]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class InferenceServer:
    """`python -m MODULE ARGS...` serving `/v1` on a loopback port; started and killed by tests.

    `arguments(port)` builds the command-line arguments; the server is ready when
    `GET ready_path` answers 200. Its output goes to a temporary file, shown if it dies.
    """

    def __init__(
        self, module: str, arguments: Callable[[int], list[str]], ready_path: str = "/v1/models"
    ) -> None:
        self.module = module
        self.arguments = arguments
        self.ready_path = ready_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers."""
        command = [sys.executable, "-m", self.module, *self.arguments(self.port)]
        environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            command, env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")
                raise RuntimeError(f"{self.module} exited: {output[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"{self.module} did not answer {self.ready_path} in time")

    def kill(self) -> None:
        """SIGKILL, as when the machine serving it dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.kill()
        self.log.close()
