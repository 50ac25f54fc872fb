"""Real processes for the deployment tests: `realtime-agents serve` servers and HAProxy.

Everything listens on 127.0.0.1; each process is started with its own command line and killed by
its own handle (never by name).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Final

START_TIMEOUT_S: Final = 60.0
"""Generous: the test machine may be shared."""
HAPROXY = shutil.which("haproxy") or next(
    (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(path)),
    None,
)
"""The HAProxy binary (Debian's `haproxy` package), or None."""


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def healthy(port: int) -> bool:
    """Whether `GET /health` on `port` answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_until(check: object, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check()` until it is true; fail with `what` (and the process's log) otherwise."""
    assert callable(check)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {START_TIMEOUT_S:.0f} s")


def same_source_environment() -> dict[str, str]:
    """The environment, with the `realtime_agents` this test imported first on the path."""
    import realtime_agents

    source = str(Path(realtime_agents.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{path}" if path else source}


class ServeProcess:
    """`python -m realtime_agents.cli serve --engines scripted` on a loopback port."""

    def __init__(
        self, name: str, directory: Path, api_key: str, scripted: dict[str, object]
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = directory / f"serve-{name}.log"
        config = directory / f"scripted-{name}.json"
        config.write_text(json.dumps(scripted))
        command = [
            sys.executable,
            "-m",
            "realtime_agents.cli",
            "serve",
            "--engines",
            "scripted",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--api-key",
            api_key,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=same_source_environment()
            )
        wait_until(lambda: healthy(self.port), f"server {name}", self.process)

    def kill(self) -> None:
        """SIGKILL: no close frame, no goodbye, as when a machine dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


DEPLOYMENT_GUIDE: Final = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
DOCUMENTED_BIND: Final = "bind 127.0.0.1:8080"
DOCUMENTED_SERVER: Final = re.compile(r"^ *server \S+ 127\.0\.0\.1:\d+ check\n", re.MULTILINE)


def documented_config(port: int, servers: list[ServeProcess]) -> str:
    """The `haproxy.cfg` of docs/deployment.md with the test's ports: the test runs the docs."""
    (block,) = re.findall(r"```haproxy\n(.*?)```", DEPLOYMENT_GUIDE.read_text(), re.DOTALL)
    assert DOCUMENTED_BIND in block and len(DOCUMENTED_SERVER.findall(block)) == 2, block
    lines = "".join(f"    server {s.name} 127.0.0.1:{s.port} check\n" for s in servers)
    block = DOCUMENTED_SERVER.sub("", block).rstrip("\n") + "\n" + lines
    return block.replace(DOCUMENTED_BIND, f"bind 127.0.0.1:{port}")


class HaproxyProcess:
    """HAProxy in the foreground (`-db`) in front of `servers`, health-checking `/health`."""

    def __init__(self, directory: Path, servers: list[ServeProcess]) -> None:
        assert HAPROXY is not None
        self.port = free_port()
        config = directory / "haproxy.cfg"
        config.write_text(documented_config(self.port, servers))
        check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        self.log_path = directory / "haproxy.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(lambda: healthy(self.port), "haproxy", self.process)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime?model=local"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
