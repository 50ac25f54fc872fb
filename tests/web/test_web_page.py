"""The voice page in headless Chromium with a fake microphone, against the embedded models."""

from __future__ import annotations

import base64
from pathlib import Path

from conftest import needs_browser
from web_helpers import (
    ThreadedServer,
    page_state,
    question_samples,
    save_screenshot,
    silence,
    start_chromium,
    stop_chromium,
    wait_for,
    write_capture_wav,
)

pytestmark = needs_browser


def server_audio_samples(server: ThreadedServer) -> dict[str, int]:
    """24 kHz samples of assistant audio the server sent, per item."""
    samples: dict[str, int] = {}
    for event in list(server.events):
        if event["type"] == "response.output_audio.delta":
            count = len(base64.b64decode(event["delta"])) // 2
            samples[event["item_id"]] = samples.get(event["item_id"], 0) + count
    return samples


def test_the_page_hears_the_question_and_plays_the_answer(
    embedded_server: ThreadedServer, tmp_path: Path
) -> None:
    wav = write_capture_wav(
        tmp_path / "question.wav", [silence(1.5), question_samples("weather"), silence(20.0)]
    )
    driver = start_chromium(wav)
    try:
        driver.get(embedded_server.base_url + "/")
        assert driver.title.startswith("realtime-agents")
        driver.find_element("id", "start").click()

        def answered(state: dict[str, object]) -> bool:
            counters = state["counters"]
            assert isinstance(counters, dict)
            return (
                bool(state["assistantTranscripts"])
                and bool(state["latencies"])
                and counters["samplesReceived"] > 0
                and counters["samplesPlayed"] >= counters["samplesReceived"]
            )

        state = wait_for(driver, answered, 180, "the spoken answer to be played")
        save_screenshot(driver, "web-page-conversation")

        # What the person said, transcribed, and the page's own tool answering the question.
        user = " ".join(state["userTranscripts"]).lower()
        assert "weather" in user and "paris" in user, state["userTranscripts"]
        calls = state["toolCalls"]
        assert (
            calls and calls[0]["name"] == "get_weather" and "paris" in calls[0]["arguments"].lower()
        )
        assert "sunny" in calls[0]["output"]
        answer = state["assistantTranscripts"][-1]
        assert answer.strip(), state
        log = driver.find_element("id", "log").text
        assert state["userTranscripts"][0] in log and answer in log and "get_weather(" in log
        assert "ms from the end of your speech to the first audio" in log
        assert driver.find_element("id", "status").text == "connected"

        # Every sample the server sent reached the page's audio output, and it was not silence.
        sent = server_audio_samples(embedded_server)
        counters = state["counters"]
        assert counters["samplesReceived"] == sum(sent.values()) > 24_000  # over a second
        assert counters["samplesPlayed"] == counters["samplesReceived"]
        assert counters["outputPeak"] > 0.05
        assert counters["playbackDropped"] == 0
        for item_id, samples in sent.items():
            assert state["playedByItem"][item_id] == samples
        # The microphone went out as 20 ms appends of PCM16 at 24 kHz (1280 base64 characters).
        assert counters["appendsSent"] > 100
        assert counters["appendBytes"] == counters["appendsSent"] * 1280
        assert 0 < state["latencies"][0] < 60_000
        assert not state["truncates"] and not state["errors"]
        sent_types = [frame.split('"type":"')[1].split('"')[0] for frame in state["sent"]]
        assert sent_types[0] == "session.update"
        assert "conversation.item.create" in sent_types and "response.create" in sent_types
        stopped = first_audio = None
        for at, event in zip(embedded_server.event_times, embedded_server.events, strict=False):
            if event["type"] == "input_audio_buffer.speech_stopped" and stopped is None:
                stopped = at
            if event["type"] == "response.output_audio.delta" and first_audio is None:
                first_audio = at
        assert stopped is not None and first_audio is not None and first_audio > stopped
        print(
            f"page latency (end of speech -> first audio heard): {state['latencies'][0]} ms; "
            f"server (speech_stopped -> first audio delta): {(first_audio - stopped) * 1000:.0f} ms"
        )
        assert page_state(driver)["status"] == "connected"
    finally:
        stop_chromium(driver)
