"""A scripted server for the turn-taking tests: transcripts by utterance length, a slow TTS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from turns_scripted import REPLY, TRANSCRIPTS, HummingStt

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    scripted_engine_set,
)


@pytest.fixture
async def turn_server() -> AsyncIterator[RealtimeServer]:
    engines = scripted_engine_set(
        stt=ScriptedStt(by_duration=TRANSCRIPTS),
        llm=ScriptedLlm(reply=REPLY),
        tts=ToneTts(chunk_delay_s=0.02),
    )
    running = await serve("127.0.0.1", 0, engines, ServerOptions(api_key=None))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def humming_stt() -> HummingStt:
    return HummingStt(default="Tell me about Berlin instead, please.")


@pytest.fixture
async def hum_server(humming_stt: HummingStt) -> AsyncIterator[RealtimeServer]:
    """A server whose speech-to-text hears a hum as words unless prompted (`humming_stt`)."""
    engines = scripted_engine_set(
        stt=humming_stt, llm=ScriptedLlm(reply=REPLY), tts=ToneTts(chunk_delay_s=0.02)
    )
    running = await serve("127.0.0.1", 0, engines, ServerOptions(api_key=None))
    try:
        yield running
    finally:
        await running.close()
