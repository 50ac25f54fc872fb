"""A scripted server for the turn-taking tests: transcripts by utterance length, a slow TTS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    scripted_engine_set,
)

REPLY = (
    "Sure, here is a longer answer. It has several clauses, each one synthesised on its own, "
    "and it keeps going while you listen."
)
BACKCHANNEL = "Mm-hm."
HEAD = "I'd like to set a timer for"
SENTENCE = "I'd like to set a timer for ten minutes."
TRANSCRIPTS = ((0.9, BACKCHANNEL), (1.6, HEAD), (1000.0, SENTENCE))
"""What the scripted speech-to-text hears, by the length of the audio it is given (the
prefix padding of 300 ms included): a short sound is a backchannel, the speech up to the
mid-sentence pause is the unfinished head, anything longer the whole sentence."""


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
