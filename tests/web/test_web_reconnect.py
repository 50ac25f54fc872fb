"""The page reconnects when its session drops, and says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import needs_browser
from web_helpers import (
    ThreadedServer,
    silence,
    start_chromium,
    stop_chromium,
    wait_for,
    write_capture_wav,
)

from realtime_agents.server.app import ServerOptions
from realtime_agents.server.engines.scripted import scripted_engine_set

pytestmark = needs_browser


@pytest.fixture
def short_sessions() -> Iterator[ThreadedServer]:
    """Sessions end after two seconds (`session_expired`, close 1001), as OpenAI's do at 60 min."""
    server = ThreadedServer(scripted_engine_set(), ServerOptions(max_session_seconds=2.0))
    yield server
    server.close()


def test_the_page_reconnects_after_the_session_drops(
    short_sessions: ThreadedServer, tmp_path: Path
) -> None:
    driver = start_chromium(write_capture_wav(tmp_path / "quiet.wav", [silence(30.0)]))
    try:
        driver.get(short_sessions.base_url + "/")
        driver.find_element("id", "start").click()
        state = wait_for(
            driver,
            lambda state: state["counters"]["reconnects"] >= 1 and state["status"] == "connected",
            30,
            "a reconnection",
        )
        assert any("Connection lost (code 1001)" in text for text in state["notices"])
        assert any(text.startswith("Reconnected") for text in state["notices"])
        assert [connection["opened"] for connection in state["connections"][:2]] == [True, True]
        # The new session got the page's settings again.
        updates = [frame for frame in state["sent"] if '"type":"session.update"' in frame]
        assert len(updates) >= 2
        created = [e for e in short_sessions.events if e["type"] == "session.created"]
        assert len(created) >= 2
        assert "Reconnected" in driver.find_element("id", "log").text
    finally:
        stop_chromium(driver)


def test_the_url_parameter_points_the_page_at_another_endpoint(
    short_sessions: ThreadedServer, tmp_path: Path
) -> None:
    other = ThreadedServer(scripted_engine_set(), ServerOptions())
    driver = start_chromium(write_capture_wav(tmp_path / "quiet.wav", [silence(10.0)]))
    try:
        endpoint = f"ws://127.0.0.1:{other.server.port}/v1/realtime?model=other-model"
        driver.get(f"{short_sessions.base_url}/?url={endpoint}")
        driver.find_element("id", "start").click()
        state = wait_for(driver, lambda state: state["status"] == "connected", 30, "a connection")
        assert state["endpoint"] == endpoint and state["connections"][0]["url"] == endpoint
        assert driver.find_element("id", "endpoint").text == endpoint
        created = [event for event in other.events if event["type"] == "session.created"]
        assert created and created[0]["session"]["model"] == "other-model"
        assert not any(event["type"] == "session.created" for event in short_sessions.events)
    finally:
        stop_chromium(driver)
        other.close()
