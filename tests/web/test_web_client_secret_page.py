"""The page with a client secret: it talks, and the long-lived key never reaches the browser."""

from __future__ import annotations

import json
import time
import urllib.request
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
from realtime_agents.web.routes import STATIC_FILES

pytestmark = needs_browser

KEY = "sk-long-lived-0123456789abcdef-never-in-the-browser"


@pytest.fixture
def keyed_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer(scripted_engine_set(), ServerOptions(api_key=KEY))
    yield server
    server.close()


def mint(server: ThreadedServer, seconds: int) -> dict[str, Any]:
    """What an operator's backend does: POST /v1/realtime/client_secrets with the server key."""
    body = json.dumps({"expires_after": {"anchor": "created_at", "seconds": seconds},
                       "session": {"type": "realtime", "model": "local"}}).encode()  # fmt: skip
    request = urllib.request.Request(
        server.base_url + "/v1/realtime/client_secrets",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        minted: dict[str, Any] = json.load(response)
    return minted


def browser_traffic(driver: Any) -> list[str]:
    """Everything the browser sent or opened, from Chromium's network log: request URLs and
    headers, request bodies, WebSocket URLs, handshake headers and every frame sent."""
    sent: list[str] = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method", ""), message.get("params", {})
        if method == "Network.requestWillBeSent":
            request = params["request"]
            sent += [request["url"], json.dumps(request.get("headers", {}))]
            sent.append(request.get("postData", ""))
        elif method == "Network.webSocketCreated":
            sent.append(params["url"])
        elif method == "Network.webSocketWillSendHandshakeRequest":
            sent.append(json.dumps(params["request"]["headers"]))
        elif method == "Network.webSocketFrameSent":
            sent.append(params["response"]["payloadData"])
    return sent


def test_the_page_talks_with_a_client_secret_and_never_sees_the_key(
    keyed_server: ThreadedServer, tmp_path: Path
) -> None:
    served = b"".join(
        urllib.request.urlopen(keyed_server.base_url + path, timeout=10).read()
        for path in STATIC_FILES
    )
    assert KEY.encode() not in served and KEY[:12].encode() not in served

    secret = mint(keyed_server, 600)["value"]
    wav = write_capture_wav(
        tmp_path / "question.wav", [silence(1.0), question_samples("capital"), silence(10.0)]
    )
    driver = start_chromium(wav)
    try:
        driver.get(f"{keyed_server.base_url}/?client_secret={secret}")
        assert "client_secret" not in driver.current_url  # the page takes it out of the address bar
        driver.find_element("id", "start").click()
        state = wait_for(
            driver,
            lambda state: (
                bool(state["assistantTranscripts"]) and state["counters"]["samplesPlayed"] > 0
            ),
            90,
            "an answer over a session opened with the client secret",
        )
        assert state["userTranscripts"] == ["Hello there."]  # the scripted engines' hearing
        assert state["usesClientSecret"] and state["connections"][0]["protocols"] == [
            "realtime",
            "<key>",
        ]
        traffic = browser_traffic(driver)
        frames = "\n".join(traffic)
        assert "input_audio_buffer.append" in frames  # the capture saw the page's frames
        assert f"openai-insecure-api-key.{secret}" in frames  # and its handshake
        assert KEY not in frames and KEY[:12] not in frames
        html = driver.page_source
        assert KEY not in html and secret not in html

        # The same page with an expired secret is refused, and says so.
        expired = mint(keyed_server, 10)["value"]
        keyed_server.server.web.clock = lambda: time.time() + 11
        driver.get(f"{keyed_server.base_url}/?client_secret={expired}")
        driver.find_element("id", "start").click()
        state = wait_for(
            driver,
            lambda state: any(
                "client secret may have expired" in text for text in state["notices"]
            ),
            30,
            "the page to report the refused secret",
        )
        assert state["status"] == "reconnecting"
        assert not any(connection["opened"] for connection in state["connections"])
    finally:
        stop_chromium(driver)
    opened = [event for event in keyed_server.events if event["type"] == "session.created"]
    assert len(opened) == 1  # the expired secret never opened a session
