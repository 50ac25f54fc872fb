"""Barge-in in the browser: speaking over the answer stops playback at once and truncates the
assistant item to what the page played."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_browser
from web_helpers import (
    ThreadedServer,
    question_samples,
    save_screenshot,
    silence,
    start_chromium,
    stop_chromium,
    wait_for,
    write_capture_wav,
)

from realtime_agents.server.app import ServerOptions
from realtime_agents.server.engines.scripted import scripted_engine_set

pytestmark = needs_browser

ROUND_SECONDS = (0.8, 1.6, 2.4, 3.2, 4.0, 5.0, 6.5, 8.0, 10.0, 12.5)
GAPS_SECONDS = ROUND_SECONDS * 3
"""Silences before each repetition of the second question. Server VAD ends a turn 0.5 s into a
silence and reports the next one about 0.8 s after the silence ends (the question's leading
silence plus detection); an answer is heard some time after the turn ends (0 s with fast
engines, about 1.2 s for the embedded models on an idle 2-core VM, 5-13 s when it is loaded, and
longer for the first turns while the LLM prepares the page's tools) and plays for 1.5 s or more.
The gaps grow in steps no longer than that, in rounds (so slow first turns do not use up the
short gaps), so some repetition starts while an answer is playing. The test stops at the first."""


def barge_in_wav(path: Path) -> Path:
    """The capital question, then the weather question again and again after growing silences."""
    parts: list[np.ndarray[Any, np.dtype[np.int16]]] = [silence(1.5), question_samples("capital")]
    second = question_samples("weather")
    for gap in GAPS_SECONDS:
        parts += [silence(gap), second]
    parts.append(silence(15.0))
    return write_capture_wav(path, parts)


@pytest.fixture
def scripted_server() -> Iterator[ThreadedServer]:
    """Fast engines: the answer starts the moment the turn ends."""
    server = ThreadedServer(
        scripted_engine_set(reply="The capital of France is Paris, a city on the Seine."),
        ServerOptions(),
    )
    yield server
    server.close()


@pytest.mark.parametrize("engines", ["embedded", "scripted"])
def test_speaking_over_the_answer_truncates_it_to_what_was_played(
    engines: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: ThreadedServer = request.getfixturevalue(f"{engines}_server")
    driver = start_chromium(barge_in_wav(tmp_path / "barge-in.wav"))
    try:
        driver.get(server.base_url + "/")
        driver.find_element("id", "start").click()
        try:
            state = wait_for(
                driver,
                lambda state: bool(state["truncates"]) and bool(state["truncatedAcks"]),
                300,
                "a barge-in truncation acknowledged by the server",
            )
        except AssertionError as error:
            save_screenshot(driver, f"web-page-barge-in-{engines}-failed")
            raise AssertionError(f"{error}\nserver timeline:\n{server.timeline()}") from None
        time.sleep(1.0)  # anything still arriving for the cut item must not be played
        # The speech that interrupted is a turn of its own.
        state = wait_for(
            driver,
            lambda state: len(state["userTranscripts"]) >= 2,
            60,
            "the interrupting question's transcript",
        )
        save_screenshot(driver, f"web-page-barge-in-{engines}")

        truncate = state["truncates"][0]
        item_id = truncate["item_id"]
        played = truncate["played_samples"]
        # Never more than was played: audio_end_ms is the played samples, rounded down.
        assert truncate["audio_end_ms"] == played * 1000 // 24_000
        assert truncate["audio_end_ms"] * 24 <= played
        # Playback stopped at once: not one more sample of that item went out after the flush.
        assert state["playedByItem"].get(item_id, 0) == played
        assert played <= truncate["received_samples"]
        # The page sent exactly that, and the server cut its item there.
        sent = [frame for frame in state["sent"] if '"conversation.item.truncate"' in frame]
        assert f'"item_id":"{item_id}"' in sent[0]
        assert f'"audio_end_ms":{truncate["audio_end_ms"]}' in sent[0]
        acks = [
            event
            for event in list(server.events)
            if event["type"] == "conversation.item.truncated" and event["item_id"] == item_id
        ]
        assert acks and acks[0]["audio_end_ms"] == truncate["audio_end_ms"]
        errors = [event for event in list(server.events) if event["type"] == "error"]
        assert not errors, errors
        # The cut answer is marked on the page.
        interrupted = driver.find_elements("css selector", ".entry.assistant.interrupted")
        assert interrupted
        print(
            f"barge-in: item {item_id} cut at {truncate['audio_end_ms']} ms "
            f"({played} of {truncate['received_samples']} samples received were played)"
        )
    finally:
        stop_chromium(driver)
