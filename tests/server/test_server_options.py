"""`ServerOptions.speculation` (CLI `--no-speculation`) over real sockets on 127.0.0.1.

With speculation (the default) a turn's work starts before the turn ends: the LLM is prefilled
with the transcript so far while the user speaks, and the reply starts at the first silent
frame. Without it, the LLM sees nothing until the VAD commits the turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from server_helpers import EventRecorder, utterance_chunks, watched_engines
from socket_client import kinds, send, until

from realtime_agents.cli import build_parser
from realtime_agents.server import ServerOptions, serve


async def wait_for_call(calls: list[str], name: str, present: bool) -> None:
    """With `present`, wait until the LLM was asked `name`; else give it time and check not."""
    if not present:
        await asyncio.sleep(0.3)  # far longer than the scripted engines take to get there
        assert name not in calls, calls
        return
    async with asyncio.timeout(10):
        while name not in calls:  # noqa: ASYNC110 (engine threads append, not the loop)
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("speculation", [True, False])
async def test_speculation_decides_when_the_llm_first_hears_of_a_turn(
    speculation: bool, recorder: EventRecorder
) -> None:
    engines, llm, _ = watched_engines()

    def hook(event: dict[str, Any]) -> None:
        recorder(event)
        if event["type"] == "input_audio_buffer.committed":
            llm.calls.append("<committed>")

    server = await serve(
        "127.0.0.1", 0, engines, ServerOptions(event_hook=hook, speculation=speculation)
    )
    # 100 ms chunks: 200 ms of silence, 1.2 s of speech (chunks 2-13), then 800 ms of silence.
    chunks = utterance_chunks(speech_ms=1200)
    try:
        async with websockets.connect(server.url + "?model=local") as ws:
            await send(
                ws, {"type": "session.update", "session": {"type": "realtime", "instructions": "."}}
            )
            for chunk in chunks[:14]:
                await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
            # Still speaking: the LLM is prefilled with the transcript so far, or not.
            await wait_for_call(llm.calls, "prefill", speculation)
            # The first silent chunk: the reply starts there, or only once the turn is committed.
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunks[14]})
            await wait_for_call(llm.calls, "generate", speculation)
            for chunk in chunks[15:]:
                await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
            async with asyncio.timeout(10):
                events = kinds(await until(ws, "response.done"))
    finally:
        await server.close()
    calls = llm.calls
    assert "response.output_audio.delta" in events
    assert calls.count("generate") == 1  # one reply either way
    before_commit = calls[: calls.index("<committed>")]
    assert ("generate" in before_commit) is speculation
    assert ("prefill" in calls) is speculation


def test_cli_no_speculation_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).speculation is True
    assert parser.parse_args(["serve", "--no-speculation"]).speculation is False
