"""Connection behaviour over real sockets: reconnects, fatal closes, faults, dispatch, auth."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest
from provider_helpers import Collector, open_model

from realtime_agents.events import RealtimeModelEvent
from realtime_agents.inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendCreateResponse,
    RealtimeModelSendUserInput,
)
from realtime_agents.items import AssistantMessageItem, UserMessageItem
from realtime_agents.model import MissingApiKeyError
from realtime_agents.providers.openai import (
    RECOVERABLE_CLOSE_CODES,
    OpenAIRealtimeWebSocketModel,
    RealtimeConnectionError,
)
from realtime_agents.testing.fake_server import (
    FakeRealtimeServer,
    ScriptedResponse,
    audio_response,
    duplicate,
    events_of,
    swap_first,
    text_response,
)

FAST_RECONNECT = {
    "max_attempts": 3,
    "initial_backoff_s": 0.01,
    "max_backoff_s": 0.05,
    "jitter": 0.5,
}
SECRET = "sk-very-secret-key-123456"


def test_recoverable_close_codes_match_the_protocol() -> None:
    # 1015 (TLS failure) is only ever produced locally, so it cannot be sent over a socket.
    assert frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015}) == RECOVERABLE_CLOSE_CODES


@pytest.mark.parametrize("code", [1001, 1005, 1006, 1011, 1012, 1013])
async def test_recoverable_close_reconnects_and_replays(
    server: FakeRealtimeServer, code: int
) -> None:
    server.script(text_response("Hello human."))
    collector = Collector()
    model = await open_model(
        server,
        collector,
        reconnect=FAST_RECONNECT,
        initial_model_settings={"instructions": "Be brief.", "voice": "marin"},
    )
    await model.send_event(RealtimeModelSendUserInput("hello"))
    await collector.wait_for("turn_ended")
    unsent = bytes(range(200)) * 24
    await model.send_event(RealtimeModelSendAudio(unsent))
    await server.wait_for("input_audio_buffer.append")

    await server.close_connection(code)
    await server.wait_for_connections(2)
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    await server.wait_for("input_audio_buffer.append", 2)  # the replay reached the server
    replay = server.connections[1].received
    assert replay[0]["type"] == "session.update"
    session = replay[0]["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["output"]["voice"] == "marin"
    items = [e["item"] for e in events_of(replay, "conversation.item.create")]
    assert items[0]["role"] == "user" and items[0]["content"][0]["text"] == "hello"
    assert items[1]["role"] == "assistant"
    assert items[1]["content"] == [{"type": "output_text", "text": "Hello human."}]
    appends = events_of(replay, "input_audio_buffer.append")
    assert b"".join(base64.b64decode(e["audio"]) for e in appends) == unsent
    assert [e["type"] for e in replay].index("input_audio_buffer.append") > 2
    statuses = [e.status for e in collector.of("connection_status")]
    assert statuses == ["connecting", "connected", "reconnecting", "connected"]

    server.script(text_response("Still here."))
    await model.send_event(RealtimeModelSendUserInput("are you there?"))
    await collector.wait_for("turn_ended", 2)
    assert collector.of("output_text_done")[-1].text == "Still here."
    history = model.protocol.history.items()
    assert len([i for i in history if isinstance(i, UserMessageItem)]) == 2  # no duplicates
    assert len([i for i in history if isinstance(i, AssistantMessageItem)]) == 2
    await model.close()
    assert collector.types()[-1] == "end_of_stream"


async def test_session_expired_reconnects_even_on_a_normal_close(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await server.send(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": "Your session hit the maximum duration of 60 minutes.",
            },
        }
    )
    await collector.wait_for("error")
    await server.close_connection(1000)
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    assert len(server.connections) == 2
    await model.close()


async def test_a_response_cut_by_a_drop_is_reported_and_an_unanswered_create_is_resent(
    server: FakeRealtimeServer,
) -> None:
    server.script(ScriptedResponse([{"text": "long answer", "chunks": 5}], close_after_events=3))
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await model.send_event(RealtimeModelSendUserInput("question"))
    cut = await collector.wait_for("turn_ended")
    assert (cut.status, cut.status_reason) == ("incomplete", "connection_lost")
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    await model.send_event(RealtimeModelSendCreateResponse())
    await collector.wait_for("turn_ended", 2)
    assert server.overlap_errors == 0
    await model.close()


async def test_non_recoverable_close_ends_the_stream_with_the_reason(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await server.send(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": "invalid_model", "message": "nope"},
        }
    )
    await server.connection.ws.close(4000, "invalid_request_error.invalid_model")
    await collector.wait_for("end_of_stream")
    errors = collector.of("error")
    assert errors[-1].error.code == "connection_closed"
    assert "4000" in errors[-1].error.message and "invalid_model" in errors[-1].error.message
    assert collector.types()[-2:] == ["connection_status", "end_of_stream"]
    assert len(server.connections) == 1  # no reconnect after a fatal close
    with pytest.raises(RealtimeConnectionError):
        await model.send_event(RealtimeModelSendUserInput("late"))
    await model.close()
    await model.close()  # idempotent
    assert collector.types().count("end_of_stream") == 1


async def test_recoverable_close_without_a_policy_ends_the_stream(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    await server.close_connection(1011)
    await collector.wait_for("end_of_stream")
    assert "reconnect is off" in collector.of("error")[-1].error.message
    await model.close()


async def test_auth_failure_raises_without_leaking_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeRealtimeServer(api_key="the-right-key") as server:
        collector = Collector()
        model = OpenAIRealtimeWebSocketModel()
        model.add_listener(collector)
        with pytest.raises(RealtimeConnectionError) as raised:
            await model.connect({"url": server.url + "&api-key=" + SECRET, "api_key": SECRET})
        assert "3000" in str(raised.value)
        assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)
        assert SECRET not in repr(model)
        await collector.wait_for("end_of_stream")
        assert SECRET not in repr(collector.events)
    assert SECRET not in caplog.text
    client_lines = [r.getMessage() for r in caplog.records if r.name.endswith("openai.ws")]
    assert "> Authorization: ***" in client_lines  # websockets logged the header, redacted


async def test_key_never_logged_during_a_session(
    server: FakeRealtimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector = Collector()
    model = await open_model(server, collector, api_key=SECRET)
    assert server.headers["authorization"] == f"Bearer {SECRET}"
    await model.send_event(RealtimeModelSendUserInput("hi"))
    await collector.wait_for("turn_ended")
    await model.close()
    assert caplog.records
    assert SECRET not in caplog.text
    assert SECRET not in repr(model)


async def test_azure_headers_replace_authorization(
    server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    collector = Collector()
    model = OpenAIRealtimeWebSocketModel()
    model.add_listener(collector)
    await model.connect({"url": server.url, "headers": {"api-key": "azure-key"}})
    assert server.headers["api-key"] == "azure-key"
    assert "authorization" not in server.headers
    await model.close()


async def test_api_key_from_an_async_function(server: FakeRealtimeServer) -> None:
    async def fetch_key() -> str:
        await asyncio.sleep(0)
        return "sk-from-vault"

    collector = Collector()
    model = await open_model(server, collector, api_key=fetch_key)
    assert server.headers["authorization"] == "Bearer sk-from-vault"
    await model.close()


async def test_missing_key_names_both_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIRealtimeWebSocketModel()
    with pytest.raises(MissingApiKeyError, match=r"api_key.*OPENAI_API_KEY"):
        await model.connect({"url": "ws://127.0.0.1:9/never"})


async def test_malformed_frames_become_error_events_and_the_session_goes_on(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    await server.send("this is not json")
    await server.send(
        '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"%%%"}'
    )
    await server.send('{"type":"response.output_text.delta","item_id":"i","delta":5}')
    await server.send('{"type":"vendor.custom_event","value":1}')
    errors = [await collector.wait_for("error", n) for n in (1, 2, 3)]
    assert errors[0].frame_type is None and "JSON" in errors[0].error.message
    assert errors[1].frame_type == "response.output_audio.delta"
    assert "base64" in errors[1].error.message
    assert errors[2].frame_type == "response.output_text.delta"
    other = await collector.wait_for("other", predicate=lambda e: isinstance(e.data, dict))
    assert other.data == {"type": "vendor.custom_event", "value": 1}
    await model.send_event(RealtimeModelSendUserInput("still alive?"))
    assert (await collector.wait_for("turn_ended")).status == "completed"
    await model.close()


async def test_beta_event_names_are_accepted(server: FakeRealtimeServer) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    base = {"response_id": "resp_b", "item_id": "item_b", "output_index": 0, "content_index": 0}
    item = {
        "id": "item_b",
        "type": "message",
        "role": "assistant",
        "content": [],
        "object": "realtime.item",
    }
    for event in (
        {"type": "conversation.item.created", "previous_item_id": None, "item": item},
        {"type": "response.audio.delta", **base, "delta": base64.b64encode(b"\x01\x02").decode()},
        {"type": "response.audio_transcript.delta", **base, "delta": "Hi"},
        {"type": "response.text.delta", **base, "delta": "Yo"},
        {"type": "response.audio.done", **base},
        {"type": "response.audio_transcript.done", **base, "transcript": "Hi"},
        {"type": "response.text.done", **base, "text": "Yo"},
    ):
        await server.send(event)
    await collector.wait_for("output_text_done")
    assert collector.of("item_updated")[-1].item.item_id == "item_b"
    assert collector.of("audio")[0].data == b"\x01\x02"
    assert collector.of("transcript_delta")[0].delta == "Hi"
    assert collector.of("output_text_delta")[0].delta == "Yo"
    assert collector.of("audio_done") and collector.of("transcript_done")
    assert not collector.of("error")
    await model.close()


async def test_duplicated_and_reordered_events_are_delivered_as_sent(
    server: FakeRealtimeServer,
) -> None:
    scripted = text_response("abc", chunks=3)
    scripted.transform = duplicate("response.output_text.delta")
    server.script(scripted)
    collector = Collector()
    model = await open_model(server, collector)
    await model.send_event(RealtimeModelSendUserInput("x"))
    await collector.wait_for("turn_ended")
    assert [e.delta for e in collector.of("output_text_delta")] == ["a", "a", "b", "b", "c", "c"]

    scripted = text_response("xy", chunks=2)
    scripted.transform = swap_first("response.output_text.delta", "response.output_text.done")
    server.script(scripted)
    await model.send_event(RealtimeModelSendUserInput("y"))
    await collector.wait_for("turn_ended", 2)
    assert collector.of("output_text_done")[-1].text == "xy"
    assert not collector.of("error")
    await model.close()


class RaisingListener(Collector):
    async def on_event(self, event: RealtimeModelEvent) -> None:
        await super().on_event(event)
        if event.type == "output_text_delta":
            raise RuntimeError("listener bug")


async def test_a_raising_listener_is_reported_to_the_others(server: FakeRealtimeServer) -> None:
    raising, healthy = RaisingListener(), Collector()
    server.script(text_response("abc", chunks=3))
    model = await open_model(server, raising)
    model.add_listener(healthy)
    await model.send_event(RealtimeModelSendUserInput("x"))
    await healthy.wait_for("turn_ended")
    reports = healthy.of("exception")
    assert len(reports) == 3 and isinstance(reports[0].exception, RuntimeError)
    assert not raising.of("exception")
    assert len(raising.of("output_text_delta")) == 3  # it kept receiving
    await model.close()


class GatedListener(Collector):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def on_event(self, event: RealtimeModelEvent) -> None:
        if event.type == "audio":
            await self.gate.wait()
        await super().on_event(event)


async def test_a_slow_listener_gets_back_pressure_not_unbounded_memory(
    server: FakeRealtimeServer,
) -> None:
    chunks = [i.to_bytes(4, "big") * 8 for i in range(5000)]
    server.script(audio_response(b"".join(chunks), 32))
    listener = GatedListener()
    model = await open_model(server, listener, model_options={"event_queue_size": 16})
    await model.send_event(RealtimeModelSendCreateResponse())
    queue = model.event_queue
    async with asyncio.timeout(10):
        while len(queue) < queue.maxsize:  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the reader is parked on the full queue; the server is held back
    assert len(queue) == queue.maxsize
    listener.gate.set()
    await listener.wait_for("turn_ended")
    assert [e.data for e in listener.of("audio")] == chunks
    assert queue.high_water <= 16
    await model.close()


class ClosingListener(Collector):
    def __init__(self) -> None:
        super().__init__()
        self.model: OpenAIRealtimeWebSocketModel | None = None

    async def on_event(self, event: RealtimeModelEvent) -> None:
        await super().on_event(event)
        if event.type == "turn_ended" and self.model is not None:
            await self.model.close()


async def test_close_from_inside_a_listener_and_from_many_tasks(server: FakeRealtimeServer) -> None:
    listener = ClosingListener()
    model = await open_model(server, listener)
    listener.model = model
    await model.send_event(RealtimeModelSendUserInput("x"))
    await listener.wait_for("end_of_stream")
    await asyncio.gather(model.close(), model.close(), model.close())
    assert listener.types().count("end_of_stream") == 1
    assert listener.types()[-1] == "end_of_stream"


async def test_raw_events_are_off_by_default_and_on_when_asked(server: FakeRealtimeServer) -> None:
    quiet, loud = Collector(), Collector()
    model = await open_model(server, quiet)
    await model.close()
    assert not quiet.of("raw_server_event")
    model = await open_model(server, loud, model_options={"emit_raw_events": True})
    await model.close()
    assert loud.of("raw_server_event")[0].data["type"] == "session.created"


async def test_close_while_the_listener_queue_is_full_does_not_wait_out_the_timeout(
    server: FakeRealtimeServer,
) -> None:
    server.script(audio_response(bytes(32 * 5000), 32))
    listener = GatedListener()
    model = await open_model(
        server,
        listener,
        model_options={"event_queue_size": 16, "transport": {"close_timeout": 60.0}},
    )
    await model.send_event(RealtimeModelSendCreateResponse())
    queue = model.event_queue
    async with asyncio.timeout(10):
        while len(queue) < queue.maxsize:  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(model.close())
    listener.gate.set()
    async with asyncio.timeout(10):  # far below close_timeout: the close handshake completed
        await closing
    assert listener.types()[-1] == "end_of_stream"
    assert listener.types().count("end_of_stream") == 1


async def test_untranscribed_user_audio_and_audio_after_the_commit_survive_a_drop() -> None:
    async with FakeRealtimeServer(vad=True, vad_turn_ms=200) as server:
        server.script(text_response("Heard you."))
        collector = Collector()
        model = await open_model(server, collector, reconnect=FAST_RECONNECT)
        spoken = bytes(range(240)) * 40  # 200 ms: the fake VAD commits it, untranscribed
        await model.send_event(RealtimeModelSendAudio(spoken))
        await collector.wait_for("turn_ended")
        after = bytes([7]) * 2400  # 50 ms of the next utterance, not committed
        await model.send_event(RealtimeModelSendAudio(after))
        await server.wait_for("input_audio_buffer.append", 2)

        await server.close_connection(1011)
        await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
        await server.wait_for("input_audio_buffer.append", 3)
        replay = server.connections[1].received
        items = [e["item"] for e in events_of(replay, "conversation.item.create")]
        user = [i for i in items if i.get("role") == "user"]
        assert len(user) == 1 and user[0]["content"][0]["type"] == "input_audio"
        assert base64.b64decode(user[0]["content"][0]["audio"]) == spoken
        assert items[-1]["role"] == "assistant"
        appends = events_of(replay, "input_audio_buffer.append")
        assert b"".join(base64.b64decode(e["audio"]) for e in appends) == after
        await model.close()
