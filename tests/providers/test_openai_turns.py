"""Turns over real sockets: text, audio with server VAD, function calls, barge-in, interrupt."""

from __future__ import annotations

import asyncio
import base64

from provider_helpers import Collector, open_model

from realtime_agents.inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendCreateResponse,
    RealtimeModelSendDeleteItem,
    RealtimeModelSendInterrupt,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
)
from realtime_agents.items import AssistantMessageItem, FunctionCallItem, OutputText
from realtime_agents.model import RealtimePlaybackTracker
from realtime_agents.testing.fake_server import (
    FakeRealtimeServer,
    audio_response,
    events_of,
    function_call,
    text_response,
)

PCM_1S = bytes(range(256)) * 187 + bytes(48)  # 48,000 bytes = 1 s of PCM16 at 24 kHz


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_text_turn(server: FakeRealtimeServer) -> None:
    collector = Collector()
    server.script(text_response("Hi there, friend!"))
    model = await open_model(server, collector, initial_model_settings={"instructions": "Brief."})
    await model.send_event(RealtimeModelSendUserInput("Say hi"))
    ended = await collector.wait_for("turn_ended")
    await model.close()

    assert ended.status == "completed"
    assert "".join(e.delta for e in collector.of("output_text_delta")) == "Hi there, friend!"
    assert collector.of("output_text_done")[0].text == "Hi there, friend!"
    update = server.received[0]
    assert update == {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "Brief."},
    }
    assert server.received_types() == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assistant = [
        e.item for e in collector.of("item_updated") if isinstance(e.item, AssistantMessageItem)
    ]
    assert assistant[-1].content == (OutputText(text="Hi there, friend!"),)
    assert collector.of("usage")[0].usage.total_tokens == 3
    assert collector.types()[-1] == "end_of_stream"
    assert collector.types().count("end_of_stream") == 1


async def test_audio_turn_with_server_vad() -> None:
    async with FakeRealtimeServer(vad=True, vad_turn_ms=200) as server:
        server.script(audio_response(PCM_1S[:9600], 1920, transcript="Everest."))
        collector = Collector()
        model = await open_model(server, collector)
        for _ in range(2):  # 2 x 100 ms: speech starts, then the turn ends at 200 ms
            await model.send_event(RealtimeModelSendAudio(PCM_1S[:4800]))
        await collector.wait_for("turn_ended")
        assert collector.of("input_speech_started")
        assert collector.of("input_speech_stopped")[0].audio_end_ms == 200
        assert collector.of("input_audio_committed")
        audio = b"".join(e.data for e in collector.of("audio"))
        assert audio == PCM_1S[:9600]
        assert len(collector.of("audio")) == 5
        assert collector.of("audio_done")
        assert collector.of("transcript_done")[0].transcript == "Everest."
        appended = b"".join(
            base64.b64decode(e["audio"])
            for e in events_of(server.received, "input_audio_buffer.append")
        )
        assert appended == PCM_1S[:4800] * 2
        assert model.protocol.unsent_audio.size == 0  # the commit cleared the replay buffer
        await model.close()


async def test_function_call_round_trip(server: FakeRealtimeServer) -> None:
    server.script(function_call("get_weather", {"city": "Tokyo"}), text_response("Sunny."))
    collector = Collector()
    model = await open_model(server, collector)
    await model.send_event(RealtimeModelSendUserInput("Weather in Tokyo?"))
    call = await collector.wait_for("function_call")
    assert call.name == "get_weather"
    assert call.arguments == '{"city": "Tokyo"}'
    assert "".join(e.delta for e in collector.of("function_call_arguments_delta")) == call.arguments
    await collector.wait_for("turn_ended")
    await model.send_event(RealtimeModelSendToolOutput(call, '{"temp_c": 21}'))
    await collector.wait_for("turn_ended", count=2)

    outputs = events_of(server.received, "conversation.item.create")[1:]
    output_id = outputs[0]["item"]["id"]  # given by the client, to match the acknowledgement
    assert output_id.startswith("item_c")
    assert outputs[0]["item"] == {
        "id": output_id,
        "type": "function_call_output",
        "call_id": call.call_id,
        "output": '{"temp_c": 21}',
    }
    assert server.received_types().count("response.create") == 2
    completed = [
        e.item
        for e in collector.of("item_updated")
        if isinstance(e.item, FunctionCallItem) and e.item.output is not None
    ]
    assert completed[-1].name == "get_weather" and completed[-1].output == '{"temp_c": 21}'
    history = model.protocol.history.items()
    assert [type(i).__name__ for i in history].count("FunctionCallItem") == 1
    await model.close()


async def test_barge_in_truncates_at_the_estimate_when_there_is_no_tracker() -> None:
    clock = FakeClock()
    async with FakeRealtimeServer() as server:
        server.script(audio_response(PCM_1S, 4800))  # 1000 ms in 10 deltas
        collector = Collector()
        model = await open_model(server, collector, model_options={"clock": clock})
        await model.send_event(RealtimeModelSendCreateResponse())
        await collector.wait_for("turn_ended")
        clock.now += 0.4  # 400 ms of realtime playback since the first delta
        await server.speech_started()
        truncate = await server.wait_for("conversation.item.truncate")
        interrupted = await collector.wait_for("audio_interrupted")
        assert truncate["audio_end_ms"] == 400
        assert truncate["item_id"] == interrupted.item_id
        await collector.wait_for("item_truncated")
        assert not server.errors_sent
        await model.close()


async def test_barge_in_clamps_the_estimate_to_the_audio_received() -> None:
    clock = FakeClock()
    async with FakeRealtimeServer() as server:
        server.script(audio_response(PCM_1S[:9600], 4800))  # only 200 ms received
        collector = Collector()
        model = await open_model(server, collector, model_options={"clock": clock})
        await model.send_event(RealtimeModelSendCreateResponse())
        await collector.wait_for("turn_ended")
        clock.now += 0.15  # still playing at 150 ms of 200: must truncate, at most at 200
        await server.speech_started()
        truncate = await server.wait_for("conversation.item.truncate")
        assert truncate["audio_end_ms"] == 150
        await model.close()

    async with FakeRealtimeServer(pace_s=0.005) as server:
        server.script(audio_response(PCM_1S, 1920))  # 40 ms deltas, streamed while we interrupt
        collector = Collector()
        tracker = RealtimePlaybackTracker()
        model = await open_model(server, collector, playback_tracker=tracker)
        await model.send_event(RealtimeModelSendCreateResponse())
        first = await collector.wait_for("audio", count=3)
        # The app claims more than was received (e.g. it counted padding): clamp.
        tracker.on_play_ms(first.item_id, 0, 5000)
        await server.speech_started()
        truncate = await server.wait_for("conversation.item.truncate")
        types = collector.types()
        before = collector.events[: types.index("audio_interrupted")]
        received = sum(len(e.data) for e in before if e.type == "audio")
        assert truncate["audio_end_ms"] == received // 48
        assert 120 <= truncate["audio_end_ms"] < 1000
        await collector.wait_for("turn_ended")
        assert not server.errors_sent
        await model.close()


async def test_barge_in_with_a_tracker_uses_what_was_played() -> None:
    async with FakeRealtimeServer() as server:
        server.script(audio_response(PCM_1S, 4800))
        collector = Collector()
        tracker = RealtimePlaybackTracker()
        model = await open_model(server, collector, playback_tracker=tracker)
        await model.send_event(RealtimeModelSendCreateResponse())
        first = await collector.wait_for("audio")
        tracker.on_play_bytes(first.item_id, 0, PCM_1S[:12000])  # 250 ms heard
        await collector.wait_for("turn_ended")
        await server.speech_started()
        truncate = await server.wait_for("conversation.item.truncate")
        assert truncate["audio_end_ms"] == 250
        assert tracker.get_state()["current_item_id"] is None  # reset on interrupt
        await model.close()


async def test_no_truncate_when_nothing_was_played_or_playback_finished() -> None:
    async with FakeRealtimeServer() as server:
        server.script(audio_response(PCM_1S[:9600], 4800), audio_response(PCM_1S[:9600], 4800))
        collector = Collector()
        tracker = RealtimePlaybackTracker()
        model = await open_model(server, collector, playback_tracker=tracker)
        await model.send_event(RealtimeModelSendCreateResponse())
        await collector.wait_for("turn_ended")
        await server.speech_started()  # nothing played yet
        await collector.wait_for("input_speech_started")
        assert collector.of("audio_interrupted")  # the app must still drop its buffer

        await model.send_event(RealtimeModelSendCreateResponse())
        await collector.wait_for("turn_ended", count=2)
        item_id = collector.of("audio")[-1].item_id
        tracker.on_play_ms(item_id, 0, 200)  # all of it played
        await server.speech_started()
        await collector.wait_for("input_speech_started", count=2)
        await model.send_event(RealtimeModelSendUserInput("sync", start_response=False))
        await server.wait_for("conversation.item.create")
        assert "conversation.item.truncate" not in server.received_types()
        assert len(collector.of("audio_interrupted")) == 1
        await model.close()


async def test_manual_interrupt_cancels_truncates_and_drops_late_audio() -> None:
    clock = FakeClock()
    async with FakeRealtimeServer(pace_s=0.01) as server:
        server.script(audio_response(PCM_1S * 2, 1920, late_deltas_after_cancel=3))
        collector = Collector()
        model = await open_model(server, collector, model_options={"clock": clock})
        await model.send_event(RealtimeModelSendCreateResponse())
        await collector.wait_for("audio", count=3)
        clock.now += 0.05
        await model.send_event(RealtimeModelSendInterrupt())
        ended = await collector.wait_for("turn_ended")
        assert ended.status == "cancelled"
        received = server.received_types()
        assert received.count("response.cancel") == 1
        truncate = events_of(server.received, "conversation.item.truncate")[0]
        assert truncate["audio_end_ms"] == 50  # at least 3 chunks (120 ms) were received
        interrupted_at = collector.types().index("audio_interrupted")
        assert "audio" not in collector.types()[interrupted_at:]  # late deltas were dropped
        assert not server.errors_sent
        await model.close()


async def test_concurrent_sends_never_overlap_responses() -> None:
    async with FakeRealtimeServer(pace_s=0.001) as server:
        collector = Collector()
        model = await open_model(server, collector)
        sends = [
            model.send_event(
                RealtimeModelSendUserInput(f"q{i}")
                if i % 2
                else RealtimeModelSendCreateResponse(instructions=f"r{i}")
            )
            for i in range(20)
        ]
        await asyncio.gather(*sends)
        creates = server.received_types().count("response.create")
        await server.wait_for("response.create", count=max(creates, 1))
        while model.protocol.sequencer.busy or model.protocol.sequencer.pending_count:
            await collector.wait_for("turn_ended", count=len(collector.of("turn_ended")) + 1)
        assert server.overlap_errors == 0
        assert not [e for e in server.errors_sent]
        assert not collector.of("error")
        # Every response with its own instructions was kept; plain ones were coalesced.
        instructions = [
            e["response"]["instructions"]
            for e in events_of(server.received, "response.create")
            if "response" in e
        ]
        assert instructions == [f"r{i}" for i in range(0, 20, 2)]
        await model.close()


async def test_deleting_items_over_the_wire(server: FakeRealtimeServer) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    await model.send_event(RealtimeModelSendUserInput("Forget this", start_response=False))
    added = await collector.wait_for("item_updated")
    item_id = added.item.item_id
    await model.send_event(RealtimeModelSendDeleteItem(item_id))
    deleted = await collector.wait_for("item_deleted")
    await model.send_event(RealtimeModelSendDeleteItem(item_id))  # gone: the server says so
    error = await collector.wait_for("error")
    await model.close()

    assert deleted.item_id == item_id
    assert server.received[-1] == {"type": "conversation.item.delete", "item_id": item_id}
    assert error.error.code == "item_delete_invalid_item_id"
