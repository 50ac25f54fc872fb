"""Helpers of the browser tests: a server on its own thread, WAV files, headless Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from realtime_agents.audio import read_wav, resample_pcm16
from realtime_agents.server.app import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.base import EngineSet

CHROMIUM = os.environ.get("REALTIME_AGENTS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REALTIME_AGENTS_CHROMEDRIVER", "/usr/bin/chromedriver")
CAPTURE_RATE = 48_000
TIMELINE_TYPES = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "response.done",
    "response.output_audio.done",
    "conversation.item.truncated",
    "error",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the `dev` extra)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


class ThreadedServer:
    """`serve()` on an event loop of its own thread, so tests can block on the browser."""

    def __init__(self, engines: EngineSet, options: ServerOptions) -> None:
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []
        """`time.perf_counter()` when each of `events` was sent."""
        options = ServerOptions(**{**_fields(options), "event_hook": self._record})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: RealtimeServer = self.run(serve("127.0.0.1", 0, engines, options))

    def _record(self, event: dict[str, Any]) -> None:
        self.event_times.append(time.perf_counter())
        self.events.append(event)

    def run(self, coroutine: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def timeline(self, types: Sequence[str] = TIMELINE_TYPES) -> str:
        """When the server sent events of `types` (seconds from its first event), for failures."""
        if not self.event_times:
            return "(no events)"
        start = self.event_times[0]
        lines = []
        seen_audio: set[str] = set()
        for at, event in zip(list(self.event_times), list(self.events), strict=False):
            kind = event["type"]
            if kind == "response.output_audio.delta":
                if event["item_id"] in seen_audio:
                    continue
                seen_audio.add(event["item_id"])
                kind = "first audio delta"
            elif kind not in types:
                continue
            detail = event.get("item_id") or event.get("response", {}).get("status", "")
            lines.append(f"{at - start:8.2f} {kind} {detail}")
        return "\n".join(lines)

    def close(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _fields(options: ServerOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


def question_samples(name: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    """A bundled spoken question (`weather`, `capital`) as int16 at the capture rate."""
    pcm, rate = read_wav(str(files("realtime_agents") / "data" / f"question_{name}.wav"))
    return np.frombuffer(resample_pcm16(pcm, rate, CAPTURE_RATE), dtype=np.int16)


def silence(seconds: float) -> np.ndarray[Any, np.dtype[np.int16]]:
    return np.zeros(int(seconds * CAPTURE_RATE), dtype=np.int16)


def write_capture_wav(path: Path, parts: Sequence[np.ndarray[Any, np.dtype[np.int16]]]) -> Path:
    """A 48 kHz 16-bit mono WAV for Chromium's fake microphone."""
    samples = np.concatenate(list(parts)).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(CAPTURE_RATE)
        wav.writeframes(samples.tobytes())
    return path


def start_chromium(capture_wav: Path) -> Any:
    """Headless Chromium with a fake microphone playing `capture_wav` once."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="realtime-agents-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={capture_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1000,1200",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.profile_dir = profile
    return driver


def stop_chromium(driver: Any) -> None:
    profile = getattr(driver, "profile_dir", None)
    try:
        driver.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def page_state(driver: Any) -> dict[str, Any]:
    """`window.realtimePage`, as JSON."""
    script = "return JSON.parse(JSON.stringify(window.realtimePage));"
    state: dict[str, Any] = driver.execute_script(script)
    return state


def wait_for(
    driver: Any, condition: Callable[[dict[str, Any]], bool], timeout: float, what: str
) -> dict[str, Any]:
    """Poll the page state until `condition` holds; fail with the state and the page's log."""
    deadline = time.monotonic() + timeout
    state = page_state(driver)
    while not condition(state):
        if time.monotonic() > deadline:
            log = driver.find_element("id", "log").text
            raise AssertionError(f"timed out waiting for {what}; page log:\n{log}\nstate: {state}")
        time.sleep(0.25)
        state = page_state(driver)
    return state


def save_screenshot(driver: Any, name: str) -> Path:
    """Keep a screenshot under test-artifacts/ (gitignored) and print where."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
