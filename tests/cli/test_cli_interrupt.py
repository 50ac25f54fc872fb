"""Ctrl-C (SIGINT) ends the command at any moment with a short message and exit code 130."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from cli_helpers import Running

from realtime_agents.preflight import EXTRAS

EMBEDDED = all(
    importlib.util.find_spec(module) for extra in ("local", "piper") for module in EXTRAS[extra]
)


def assert_interrupted(output: str, returncode: int) -> None:
    assert returncode == 130, output
    assert "Traceback" not in output
    assert "interrupted" in output or "shutting down" in output


def test_ctrl_c_while_serving_closes_and_exits_130(tmp_path: Path) -> None:
    server = Running("serve", "--engines", "scripted", "--port", "0", tmp_path=tmp_path)
    try:
        server.wait_for("stop:    Ctrl-C")
        result = server.interrupt()
    finally:
        server.kill()
    assert_interrupted(result.stdout, result.returncode)
    assert "shutting down" in result.stdout


@pytest.mark.skipif(not EMBEDDED, reason="needs the [local] and [piper] extras")
def test_ctrl_c_while_models_load_does_not_wait_for_them(tmp_path: Path) -> None:
    server = Running("serve", "--port", "0", tmp_path=tmp_path)
    try:
        server.wait_for("loading embedded engines")
        # While llama-cpp-python loads the LLM its stderr points at /dev/null: the message
        # must still show.
        server.wait_for("stt engine")
        result = server.interrupt()
    finally:
        server.kill()
    assert_interrupted(result.stdout, result.returncode)
    assert "interrupted" in result.stdout
    assert "engines ready" not in result.stdout  # it stopped before the models finished


def test_ctrl_c_during_the_demo(tmp_path: Path) -> None:
    demo = Running("demo", "--engines", "scripted", "--timeout", "600", tmp_path=tmp_path)
    try:
        demo.wait_for("Models ready")
        result = demo.interrupt()
    finally:
        demo.kill()
    assert_interrupted(result.stdout, result.returncode)
    assert "interrupted" in result.stdout
