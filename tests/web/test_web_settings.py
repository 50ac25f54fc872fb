"""The page's controls: instructions and voice go out as `session.update`; mute sends silence."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_browser
from web_helpers import (
    ThreadedServer,
    question_samples,
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
def scripted_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer(scripted_engine_set(), ServerOptions())
    yield server
    server.close()


def updated_sessions(server: ThreadedServer) -> list[dict[str, Any]]:
    return [event["session"] for event in list(server.events) if event["type"] == "session.updated"]


def test_instructions_voice_and_mute(scripted_server: ThreadedServer, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    # A question 6 s into the microphone (muted by then), and again 6 s after it (unmuted).
    question = question_samples("capital")
    wav = write_capture_wav(
        tmp_path / "speech.wav",
        [silence(6.0), question, silence(6.0), question, silence(10.0)],
    )
    driver = start_chromium(wav)
    try:
        driver.get(scripted_server.base_url + "/")
        driver.find_element("id", "start").click()
        wait_for(driver, lambda state: state["status"] == "connected", 30, "the connection")
        driver.find_element("id", "mute").click()
        assert driver.find_element("id", "mute").get_attribute("aria-pressed") == "true"

        box = driver.find_element("id", "instructions")
        box.clear()
        box.send_keys("Answer like a pirate.")
        Select(driver.find_element("id", "voice")).select_by_visible_text("marin")
        driver.find_element("id", "apply").click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sessions = updated_sessions(scripted_server)
            if sessions and sessions[-1]["instructions"] == "Answer like a pirate.":
                break
            time.sleep(0.2)
        assert sessions[-1]["instructions"] == "Answer like a pirate."
        assert sessions[-1]["audio"]["output"]["voice"] == "marin"
        # The page's own settings of the first update are kept (a partial update).
        assert [tool["name"] for tool in sessions[-1]["tools"]] == ["get_weather", "get_time"]

        # The first question plays into the muted microphone: silence goes out all along.
        wait_for(
            driver,
            lambda state: state["counters"]["appendsSent"] >= 500,  # 10 s of 20 ms chunks
            30,
            "ten seconds of microphone audio",
        )
        types = [event["type"] for event in list(scripted_server.events)]
        assert "input_audio_buffer.speech_started" not in types
        driver.find_element("id", "mute").click()
        state = wait_for(
            driver,
            lambda state: bool(state["assistantTranscripts"]),
            40,
            "an answer to the unmuted question",
        )
        assert state["userTranscripts"] == ["Hello there."]
        assert not state["errors"]
    finally:
        stop_chromium(driver)
