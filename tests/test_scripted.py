"""ScriptedRealtimeModel: matching, strictness, delivery order, re-entrancy, close and secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

import realtime_agents.redaction
from realtime_agents import (
    RealtimeModelAudioEvent,
    RealtimeModelConnectionStatusEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
    RealtimeModelListener,
    RealtimeModelSendAudio,
    RealtimeModelSendEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
    RealtimeModelToolCallEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
    RealtimePlaybackTracker,
)
from realtime_agents.testing import (
    RealtimeScriptError,
    RealtimeStep,
    ScriptedRealtimeModel,
    UnconsumedRealtimeSteps,
    UnexpectedRealtimeSend,
    redact_url,
)

SECRET = "sk-test-do-not-leak-4f2a9c"
HELLO = RealtimeModelSendUserInput(user_input="hello")
TURN_STARTED = RealtimeModelTurnStartedEvent(response_id="r1")
TURN_ENDED = RealtimeModelTurnEndedEvent(response_id="r1", status="completed")
TOOL_CALL = RealtimeModelToolCallEvent(name="get_weather", call_id="c1", arguments="{}")


class Recorder(RealtimeModelListener):
    def __init__(self) -> None:
        self.events: list[RealtimeModelEvent] = []

    async def on_event(self, event: RealtimeModelEvent) -> None:
        self.events.append(event)


class Failing(RealtimeModelListener):
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.events: list[RealtimeModelEvent] = []

    async def on_event(self, event: RealtimeModelEvent) -> None:
        self.events.append(event)
        if isinstance(event, RealtimeModelTurnStartedEvent):
            raise self.error


async def connected(
    *steps: RealtimeStep, strict: bool = True
) -> tuple[ScriptedRealtimeModel, Recorder]:
    model = ScriptedRealtimeModel(steps, strict=strict)
    recorder = Recorder()
    model.add_listener(recorder)
    await model.connect({})
    return model, recorder


# -- matching


async def test_match_by_equal_instance_emits_the_steps_events() -> None:
    model, recorder = await connected(RealtimeStep(HELLO, emit=[TURN_STARTED, TURN_ENDED]))
    await model.send_event(RealtimeModelSendUserInput(user_input="hello"))
    assert recorder.events == [TURN_STARTED, TURN_ENDED]
    assert model.remaining_steps == ()
    assert model.sent_events == (HELLO,)
    model.assert_complete()


async def test_match_by_instance_rejects_an_unequal_event() -> None:
    model, _ = await connected(RealtimeStep(HELLO))
    with pytest.raises(UnexpectedRealtimeSend):
        await model.send_event(RealtimeModelSendUserInput(user_input="goodbye"))


async def test_match_by_class() -> None:
    model, recorder = await connected(RealtimeStep(RealtimeModelSendAudio, emit=[TURN_STARTED]))
    await model.send_event(RealtimeModelSendAudio(audio=b"\x00\x00", commit=True))
    assert recorder.events == [TURN_STARTED]
    with pytest.raises(UnexpectedRealtimeSend):
        await model.send_event(RealtimeModelSendAudio(audio=b""))  # no steps left


async def test_match_by_predicate() -> None:
    seen: list[RealtimeModelSendEvent] = []

    def is_commit(event: RealtimeModelSendEvent) -> bool:
        seen.append(event)
        return isinstance(event, RealtimeModelSendAudio) and event.commit

    model, recorder = await connected(RealtimeStep(is_commit, emit=[TURN_STARTED]))
    with pytest.raises(UnexpectedRealtimeSend, match="is_commit"):
        await model.send_event(RealtimeModelSendAudio(audio=b"\x01\x00"))
    await model.send_event(RealtimeModelSendAudio(audio=b"\x01\x00", commit=True))
    assert [type(e) for e in seen] == [RealtimeModelSendAudio, RealtimeModelSendAudio]
    assert recorder.events == [TURN_STARTED]


# -- mismatches and unconsumed steps


async def test_strict_mismatch_raises_a_readable_error_and_keeps_the_step() -> None:
    step = RealtimeStep(RealtimeModelSendToolOutput)
    model, recorder = await connected(step)
    audio = RealtimeModelSendAudio(audio=bytes(4800))
    with pytest.raises(UnexpectedRealtimeSend) as caught:
        await model.send_event(audio)
    assert caught.value.actual == audio
    assert caught.value.expected is RealtimeModelSendToolOutput
    message = str(caught.value)
    assert "RealtimeModelSendAudio" in message
    assert "an instance of RealtimeModelSendToolOutput" in message
    assert "<4800 bytes>" in message  # audio is summarised, not dumped
    assert model.remaining_steps == (step,)
    assert model.sent_events == (audio,)
    assert recorder.events == []


async def test_strict_mismatch_is_raised_again_by_assert_complete() -> None:
    model, _ = await connected(RealtimeStep(HELLO))
    with pytest.raises(UnexpectedRealtimeSend):
        await model.send_event(RealtimeModelSendInterrupt())
    with pytest.raises(UnexpectedRealtimeSend):
        model.assert_complete()  # even if the code under test swallowed the first raise


async def test_send_with_no_steps_left_is_unexpected() -> None:
    model, _ = await connected()
    with pytest.raises(UnexpectedRealtimeSend, match="no more sends") as caught:
        await model.send_event(HELLO)
    assert caught.value.expected is None


async def test_non_strict_mismatch_is_recorded_and_the_step_waits() -> None:
    model, recorder = await connected(RealtimeStep(HELLO, emit=[TURN_STARTED]), strict=False)
    interrupt = RealtimeModelSendInterrupt()
    await model.send_event(interrupt)
    assert [m.actual for m in model.unexpected_sends] == [interrupt]
    assert recorder.events == []
    assert len(model.remaining_steps) == 1
    await model.send_event(HELLO)
    assert recorder.events == [TURN_STARTED]
    assert model.sent_events == (interrupt, HELLO)
    model.assert_complete()


async def test_assert_complete_lists_unconsumed_steps() -> None:
    first = RealtimeStep(HELLO)
    second = RealtimeStep(RealtimeModelSendToolOutput)
    third = RealtimeStep(RealtimeModelSendInterrupt(cancel_response=False))
    model, _ = await connected(first, second, third)
    await model.send_event(HELLO)
    with pytest.raises(UnconsumedRealtimeSteps) as caught:
        model.assert_complete()
    assert caught.value.steps == (second, third)
    message = str(caught.value)
    assert "2 scripted step(s)" in message
    assert "RealtimeModelSendToolOutput" in message
    assert "cancel_response=False" in message
    assert "user_input" not in message  # the consumed step is not listed


# -- delivery


async def test_events_are_delivered_in_order_to_every_listener() -> None:
    audio = [
        RealtimeModelAudioEvent(data=bytes([n]), response_id="r1", item_id="i1") for n in range(5)
    ]
    model, first = await connected(RealtimeStep(HELLO, emit=[TURN_STARTED, *audio]))
    second = Recorder()
    model.add_listener(second)
    model.add_listener(second)  # adding twice delivers once
    await model.send_event(HELLO)
    await model.emit(TURN_ENDED)
    assert first.events == [TURN_STARTED, *audio, TURN_ENDED]
    assert second.events == first.events


async def test_removed_listener_gets_nothing_more() -> None:
    model, recorder = await connected()
    await model.emit(TURN_STARTED)
    model.remove_listener(recorder)
    model.remove_listener(recorder)  # unknown listener: no error
    await model.emit(TURN_ENDED)
    assert recorder.events == [TURN_STARTED]


async def test_listener_can_send_re_entrantly_without_deadlock() -> None:
    output = RealtimeModelSendToolOutput(tool_call=TOOL_CALL, output="sunny")
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(HELLO, emit=[TURN_STARTED, TOOL_CALL, TURN_ENDED]),
            RealtimeStep(output, emit=[RealtimeModelTurnStartedEvent(response_id="r2")]),
        ]
    )

    class ToolAnswerer(Recorder):
        async def on_event(self, event: RealtimeModelEvent) -> None:
            await asyncio.sleep(0)  # a real listener yields; the cascade must still finish first
            await super().on_event(event)
            if isinstance(event, RealtimeModelToolCallEvent):
                await model.send_event(RealtimeModelSendToolOutput(tool_call=event, output="sunny"))

    listener = ToolAnswerer()
    model.add_listener(listener)
    await model.connect({})
    async with asyncio.timeout(10):  # a deadlock guard, not a timing assertion
        await model.send_event(HELLO)
    # The outer send waited for the re-entrant send's events too, and the order is kept.
    assert [type(e).__name__ for e in listener.events] == [
        "RealtimeModelTurnStartedEvent",
        "RealtimeModelToolCallEvent",
        "RealtimeModelTurnEndedEvent",
        "RealtimeModelTurnStartedEvent",
    ]
    assert model.sent_events == (HELLO, output)
    model.assert_complete()


async def test_raising_listener_is_reported_to_the_others_and_delivery_goes_on() -> None:
    error = RuntimeError("listener bug")
    model = ScriptedRealtimeModel()
    failing, good = Failing(error), Recorder()
    model.add_listener(failing)
    model.add_listener(good)
    await model.connect({})
    await model.emit(TURN_STARTED, TURN_ENDED)
    assert good.events[0] == TURN_STARTED
    report = good.events[1]
    assert isinstance(report, RealtimeModelExceptionEvent)
    assert report.exception is error
    assert report.context is not None and "Failing" in report.context
    assert good.events[2:] == [TURN_ENDED]
    assert failing.events == [TURN_STARTED, TURN_ENDED]  # not told about its own failure
    assert model.listener_errors == (error,)


async def test_step_error_is_raised_from_send_event() -> None:
    failure = ConnectionError("socket closed")
    model, _ = await connected(RealtimeStep(HELLO, error=failure))
    with pytest.raises(ConnectionError) as caught:
        await model.send_event(HELLO)
    assert caught.value is failure
    assert model.remaining_steps == ()


async def test_delay_uses_the_injected_sleep_before_the_events() -> None:
    log: list[object] = []

    async def fake_sleep(seconds: float) -> None:
        log.append(("sleep", seconds))

    class Logger(RealtimeModelListener):
        async def on_event(self, event: RealtimeModelEvent) -> None:
            log.append(event.type)

    model = ScriptedRealtimeModel(
        [RealtimeStep(HELLO, emit=[TURN_STARTED], delay_s=2)], sleep=fake_sleep
    )
    model.add_listener(Logger())
    await model.connect({})
    await model.send_event(HELLO)
    assert log == [("sleep", 2.0), "turn_started"]


async def test_sent_events_are_snapshots() -> None:
    settings: dict[str, object] = {"instructions": "be brief"}
    model, _ = await connected(RealtimeStep(RealtimeModelSendSessionUpdate))
    await model.send_event(RealtimeModelSendSessionUpdate(session_settings=settings))  # type: ignore[typeddict-item]
    settings["instructions"] = "changed later"
    sent = model.sent_events[0]
    assert isinstance(sent, RealtimeModelSendSessionUpdate)
    assert sent.session_settings == {"instructions": "be brief"}


# -- connect, close and disconnect


async def test_connect_events_and_connect_error() -> None:
    status = RealtimeModelConnectionStatusEvent(status="connected")
    model = ScriptedRealtimeModel(connect_events=[status])
    recorder = Recorder()
    model.add_listener(recorder)
    await model.connect({})
    assert recorder.events == [status]
    with pytest.raises(RealtimeScriptError):
        await model.connect({})

    failure = OSError("refused")
    failing = ScriptedRealtimeModel(connect_error=failure)
    with pytest.raises(OSError) as caught:
        await failing.connect({"url": "ws://127.0.0.1:1/v1/realtime"})
    assert caught.value is failure
    assert failing.connect_calls[0].url == "ws://127.0.0.1:1/v1/realtime"
    with pytest.raises(RealtimeScriptError, match="not connected"):
        await failing.send_event(HELLO)


async def test_close_is_idempotent_and_end_of_stream_is_last_and_once() -> None:
    model, recorder = await connected()
    await model.emit(TURN_STARTED)
    await model.close()
    await model.close()
    assert recorder.events == [
        TURN_STARTED,
        RealtimeModelConnectionStatusEvent(status="disconnected"),
        RealtimeModelEndOfStreamEvent(),
    ]
    assert model.closed
    with pytest.raises(RealtimeScriptError):
        await model.send_event(HELLO)
    with pytest.raises(RealtimeScriptError):
        await model.emit(TURN_ENDED)
    assert sum(isinstance(e, RealtimeModelEndOfStreamEvent) for e in recorder.events) == 1


async def test_close_from_a_listener_ends_the_stream_after_pending_events() -> None:
    model = ScriptedRealtimeModel([RealtimeStep(HELLO, emit=[TURN_STARTED, TURN_ENDED])])

    class Closer(Recorder):
        async def on_event(self, event: RealtimeModelEvent) -> None:
            await super().on_event(event)
            if isinstance(event, RealtimeModelTurnStartedEvent):
                await model.close()

    closer = Closer()
    model.add_listener(closer)
    await model.connect({})
    await model.send_event(HELLO)
    assert [e.type for e in closer.events] == [
        "turn_started",
        "turn_ended",
        "connection_status",
        "end_of_stream",
    ]


async def test_disconnect_without_recovery_ends_the_stream() -> None:
    model = ScriptedRealtimeModel()
    recorder = Recorder()
    model.add_listener(recorder)
    await model.connect({"reconnect": {"max_attempts": 2}})
    await model.disconnect("server went away")
    assert recorder.events == [
        RealtimeModelConnectionStatusEvent(
            status="reconnecting", reason="server went away", attempt=1
        ),
        RealtimeModelConnectionStatusEvent(status="disconnected", reason="server went away"),
        RealtimeModelEndOfStreamEvent(reason="server went away"),
    ]
    with pytest.raises(RealtimeScriptError):
        await model.send_event(HELLO)
    await model.close()
    assert len(recorder.events) == 3  # close after a drop emits nothing more


async def test_disconnect_without_a_policy_skips_reconnecting() -> None:
    model, recorder = await connected()
    await model.disconnect("gone")
    assert [getattr(e, "status", e.type) for e in recorder.events] == [
        "disconnected",
        "end_of_stream",
    ]


async def test_disconnect_recovered_keeps_the_session() -> None:
    model = ScriptedRealtimeModel([RealtimeStep(HELLO, emit=[TURN_STARTED])])
    recorder = Recorder()
    model.add_listener(recorder)
    await model.connect({"reconnect": {}})
    await model.disconnect("blip", recovered=True)
    await model.send_event(HELLO)
    assert [getattr(e, "status", e.type) for e in recorder.events] == [
        "reconnecting",
        "connected",
        "turn_started",
    ]
    plain, _ = await connected()
    with pytest.raises(RealtimeScriptError, match="reconnect"):
        await plain.disconnect("blip", recovered=True)


# -- credentials


@pytest.mark.parametrize("how", ["string", "function", "async function"])
async def test_connect_calls_never_contain_the_key(how: str) -> None:
    async def async_key() -> str:
        return SECRET

    key: str | Callable[[], str] | Callable[[], Awaitable[str]] = {
        "string": SECRET,
        "function": lambda: SECRET,
        "async function": async_key,
    }[how]
    model = ScriptedRealtimeModel()
    await model.connect(
        {
            "api_key": key,
            "url": f"wss://example.test/v1/realtime?model=m&api_key={SECRET}&token={SECRET}",
            "headers": {"api-key": SECRET, "Authorization": f"Bearer {SECRET}"},
            "initial_model_settings": {"instructions": "hi"},
            "call_id": "call_1",
            "playback_tracker": RealtimePlaybackTracker(),
        }
    )
    (call,) = model.connect_calls
    assert SECRET not in repr(model.connect_calls)
    assert SECRET not in repr(vars(model))
    assert call.api_key_provided and call.headers_provided
    assert call.url == "wss://example.test/v1/realtime?model=m&api_key=***&token=***"
    assert call.initial_model_settings == {"instructions": "hi"}
    assert call.call_id == "call_1"
    assert call.playback_tracker_provided and not call.reconnect_provided


async def test_connect_call_without_credentials() -> None:
    model = ScriptedRealtimeModel()
    await model.connect({})
    (call,) = model.connect_calls
    assert not call.api_key_provided and not call.headers_provided
    assert call.url is None and call.initial_model_settings is None


async def test_connect_rejects_a_wrongly_typed_key() -> None:
    model = ScriptedRealtimeModel()
    with pytest.raises(TypeError):
        await model.connect({"api_key": 123})  # type: ignore[typeddict-item]
    assert model.connect_calls == ()


def test_redact_url_is_the_library_policy() -> None:
    assert redact_url is realtime_agents.redaction.redact_url  # one function, one policy
    assert redact_url(f"wss://user:{SECRET}@h:8/p?Key={SECRET}&monkey=1#t={SECRET}") == (
        "wss://h:8/p?Key=***&monkey=***"
    )
    assert redact_url("ws://127.0.0.1:8000/v1/realtime?model=x") == (
        "ws://127.0.0.1:8000/v1/realtime?model=x"
    )


# -- step validation


def test_step_validation() -> None:
    with pytest.raises(TypeError):
        RealtimeStep(RealtimeModelAudioEvent)  # type: ignore[arg-type]  # a model event class
    with pytest.raises(TypeError):
        RealtimeStep("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RealtimeStep(HELLO, emit=[HELLO])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        RealtimeStep(HELLO, emit=[TURN_STARTED], error=RuntimeError("x"))
    with pytest.raises(ValueError):
        RealtimeStep(HELLO, delay_s=-1)
    step = RealtimeStep(HELLO, emit=[TURN_STARTED])
    assert step.emit == (TURN_STARTED,)  # stored as a tuple
    with pytest.raises(AttributeError):
        step.expect = HELLO  # type: ignore[misc]
