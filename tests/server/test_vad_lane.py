"""Voice activity detection has its own lane (issue 14, item 10): a turn end is seen while
every model worker thread is busy, instead of queueing behind the model work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from server_helpers import EventRecorder, utterance_chunks
from socket_client import connect, kinds, receive, send, until, user_message

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engine_runner import EngineRunner
from realtime_agents.server.engines.base import LlmChunk, LlmRequest
from realtime_agents.server.engines.scripted import EnergyVad, ScriptedStt, scripted_engine_set

TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}
WAIT_S = 20.0
"""How long a test waits for an event that should come (a hang guard, not a timing check)."""


class BlockingLlm:
    """An LLM whose every reply holds its worker thread until `release` is set."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        """Set once a reply holds a worker thread."""

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        self.entered.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                return
        yield LlmChunk(text="Released.")


async def test_a_vad_call_runs_while_every_engine_thread_is_blocked() -> None:
    engine_threads = ThreadPoolExecutor(max_workers=2)
    runner = EngineRunner(engine_threads)
    release = threading.Event()
    try:
        blocked = [asyncio.ensure_future(runner.in_thread(release.wait)) for _ in range(3)]
        vad_thread = await asyncio.wait_for(
            runner.in_vad_lane(lambda: threading.current_thread().name), WAIT_S
        )
        assert vad_thread.startswith("realtime-vad")
        assert not any(task.done() for task in blocked)  # the engine threads were still held
        release.set()
        assert await asyncio.gather(*blocked) == [True, True, True]
    finally:
        release.set()
        engine_threads.shutdown(wait=True)


@pytest.fixture
def blocking_llm() -> BlockingLlm:
    return BlockingLlm()


@pytest.fixture
async def one_engine_thread(
    recorder: EventRecorder, blocking_llm: BlockingLlm
) -> AsyncIterator[RealtimeServer]:
    """One engine worker thread, a VAD that runs in a thread (not on the loop)."""
    engines = scripted_engine_set(
        vad=EnergyVad(runs_inline=False), stt=ScriptedStt(default="Hello."), llm=blocking_llm
    )
    options = ServerOptions(api_key="test-key", event_hook=recorder, worker_threads=1)
    server = await serve("127.0.0.1", 0, engines, options)
    try:
        yield server
    finally:
        blocking_llm.release.set()
        await server.close()


async def speak_while_busy(
    busy: Any, speaker: Any, speaker_update: dict[str, Any], blocking_llm: BlockingLlm
) -> None:
    """`busy`'s reply holds the only engine thread while `speaker` (set up with
    `speaker_update`) says an utterance: its turn end must still be seen."""
    for ws, update in ((busy, TEXT_ONLY), (speaker, speaker_update)):
        await receive(ws)
        await send(ws, update)
        await until(ws, "session.updated")
    await send(busy, user_message("hold the only engine thread"))
    await send(busy, {"type": "response.create"})
    await until(busy, "response.created")
    assert await asyncio.to_thread(blocking_llm.entered.wait, WAIT_S)

    for chunk in utterance_chunks():
        await send(speaker, {"type": "input_audio_buffer.append", "audio": chunk})
    seen = await asyncio.wait_for(until(speaker, "input_audio_buffer.speech_stopped"), WAIT_S)
    assert "input_audio_buffer.speech_started" in kinds(seen)
    assert not blocking_llm.release.is_set()  # seen while the model held the thread


async def test_turn_ends_are_detected_while_the_model_holds_every_worker(
    one_engine_thread: RealtimeServer, blocking_llm: BlockingLlm
) -> None:
    async with (
        await connect(one_engine_thread.url) as busy,
        await connect(one_engine_thread.url) as speaker,
    ):
        await speak_while_busy(busy, speaker, TEXT_ONLY, blocking_llm)

        blocking_llm.release.set()  # then both turns are answered
        for ws in (busy, speaker):
            done = (await asyncio.wait_for(until(ws, "response.done"), WAIT_S))[-1]
            assert done["response"]["status"] == "completed"


async def test_semantic_turn_ends_are_judged_while_the_model_holds_every_worker(
    one_engine_thread: RealtimeServer, blocking_llm: BlockingLlm
) -> None:
    """`semantic_vad` ends a turn only once the words are transcribed: that transcription runs
    in the turn lane, so it is not queued behind the reply holding the only engine thread (the
    800 ms of silence is far below the 4 s maximum wait that would end the turn anyway)."""
    semantic = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}},
        },
    }
    async with (
        await connect(one_engine_thread.url) as busy,
        await connect(one_engine_thread.url) as speaker,
    ):
        await speak_while_busy(busy, speaker, semantic, blocking_llm)
        blocking_llm.release.set()
        done = (await asyncio.wait_for(until(speaker, "response.done"), WAIT_S))[-1]
        assert done["response"]["status"] == "completed"


async def test_the_turn_lane_runs_while_every_engine_thread_is_blocked() -> None:
    engine_threads = ThreadPoolExecutor(max_workers=1)
    runner = EngineRunner(engine_threads)
    release = threading.Event()
    try:
        blocked = asyncio.ensure_future(runner.in_thread(release.wait))
        name = await asyncio.wait_for(
            runner.in_turn_lane(lambda: threading.current_thread().name), WAIT_S
        )
        assert name.startswith("realtime-turn") and not blocked.done()
        release.set()
        assert await blocked
    finally:
        release.set()
        engine_threads.shutdown(wait=True)
