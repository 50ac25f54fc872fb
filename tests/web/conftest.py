"""Fixtures of the web tests: the embedded models (loaded once) and servers on their own thread."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from web_helpers import ThreadedServer, browser_missing

from realtime_agents.server.app import ServerOptions
from realtime_agents.server.engines.base import EngineSet

BROWSER_MISSING = browser_missing()
needs_browser = pytest.mark.skipif(
    BROWSER_MISSING is not None, reason=f"no headless browser: {BROWSER_MISSING}"
)


@pytest.fixture(scope="session")
def embedded_engines() -> EngineSet:
    """The embedded engine set (silero, whisper, SmolLM2, piper), loaded once per process."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from realtime_agents.server.engines.loader import load_engines

    return load_engines("embedded", {})


@pytest.fixture(scope="module")
def embedded_server(embedded_engines: EngineSet) -> Iterator[ThreadedServer]:
    """`realtime-agents serve` on the embedded models, on a free loopback port."""
    server = ThreadedServer(embedded_engines, ServerOptions())
    yield server
    server.close()
