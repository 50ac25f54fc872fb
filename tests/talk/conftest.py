"""Shared fixtures for the `talk` tests: bundled question WAVs and the embedded engines."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents.server.engines.base import EngineSet


@pytest.fixture(scope="session")
def embedded() -> Iterator[EngineSet]:
    """The embedded engine set, loaded once (the loader caches it for `talk` as well)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from realtime_agents.server.engines.loader import load_engines

    yield load_engines("embedded", {})


@pytest.fixture
def livekit_rtc() -> object:
    """The WebRTC echo canceller's library (the `[talk]` extra), or skip."""
    return pytest.importorskip("livekit.rtc", reason="the [talk] extra (livekit) is not installed")
