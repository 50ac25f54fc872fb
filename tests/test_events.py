"""Events and send events: construction, immutability, unique `type` literals, equality."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest

from realtime_agents import (
    InputText,
    RealtimeErrorInfo,
    RealtimeModelAudioDoneEvent,
    RealtimeModelAudioEvent,
    RealtimeModelAudioInterruptedEvent,
    RealtimeModelConnectionStatusEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelErrorEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
    RealtimeModelInputAudioClearedEvent,
    RealtimeModelInputAudioCommittedEvent,
    RealtimeModelInputAudioTimeoutTriggeredEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelInputAudioTranscriptionFailedEvent,
    RealtimeModelInputSpeechStartedEvent,
    RealtimeModelInputSpeechStoppedEvent,
    RealtimeModelItemDeletedEvent,
    RealtimeModelItemTruncatedEvent,
    RealtimeModelItemUpdatedEvent,
    RealtimeModelOtherEvent,
    RealtimeModelOutputTextDeltaEvent,
    RealtimeModelOutputTextDoneEvent,
    RealtimeModelRawServerEvent,
    RealtimeModelSendAudio,
    RealtimeModelSendClearAudio,
    RealtimeModelSendConversationItem,
    RealtimeModelSendCreateResponse,
    RealtimeModelSendDeleteItem,
    RealtimeModelSendEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendRawMessage,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
    RealtimeModelSessionUpdatedEvent,
    RealtimeModelToolCallArgumentsDeltaEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
    RealtimeModelUsageEvent,
    RealtimeUsage,
    UserMessageItem,
)

ERROR = RealtimeErrorInfo(message="bad request", code="invalid_value")
ITEM = UserMessageItem(item_id="item_1", content=(InputText(text="hi"),))
TOOL_CALL = RealtimeModelToolCallEvent(name="lookup", call_id="call_1", arguments='{"q": 1}')

# Keyword arguments for every event class; the expected `type` literal is checked separately.
EVENT_ARGUMENTS: dict[type, dict[str, Any]] = {
    RealtimeModelErrorEvent: {"error": ERROR, "frame_type": "response.create"},
    RealtimeModelToolCallEvent: {"name": "lookup", "call_id": "call_1", "arguments": "{}"},
    RealtimeModelToolCallArgumentsDeltaEvent: {"item_id": "i", "call_id": "c", "delta": '{"'},
    RealtimeModelAudioEvent: {"data": b"\x01\x02", "response_id": "r", "item_id": "i"},
    RealtimeModelAudioInterruptedEvent: {"item_id": "i", "content_index": 1},
    RealtimeModelAudioDoneEvent: {"item_id": "i", "response_id": "r"},
    RealtimeModelInputSpeechStartedEvent: {"item_id": "i", "audio_start_ms": 120},
    RealtimeModelInputSpeechStoppedEvent: {"item_id": "i", "audio_end_ms": 980},
    RealtimeModelInputAudioCommittedEvent: {"item_id": "i", "previous_item_id": "p"},
    RealtimeModelInputAudioClearedEvent: {},
    RealtimeModelInputAudioTranscriptionDeltaEvent: {"item_id": "i", "delta": "hel"},
    RealtimeModelInputAudioTranscriptionCompletedEvent: {"item_id": "i", "transcript": "hello"},
    RealtimeModelInputAudioTranscriptionFailedEvent: {"item_id": "i", "error": ERROR},
    RealtimeModelInputAudioTimeoutTriggeredEvent: {
        "item_id": "i",
        "audio_start_ms": 0,
        "audio_end_ms": 5000,
    },
    RealtimeModelTranscriptDeltaEvent: {"item_id": "i", "delta": "Hi", "response_id": "r"},
    RealtimeModelTranscriptDoneEvent: {"item_id": "i", "transcript": "Hi!", "response_id": "r"},
    RealtimeModelOutputTextDeltaEvent: {"item_id": "i", "delta": "Hi", "response_id": "r"},
    RealtimeModelOutputTextDoneEvent: {"item_id": "i", "text": "Hi!", "response_id": "r"},
    RealtimeModelItemUpdatedEvent: {"item": ITEM, "previous_item_id": None},
    RealtimeModelItemDeletedEvent: {"item_id": "i"},
    RealtimeModelItemTruncatedEvent: {"item_id": "i", "audio_end_ms": 1500},
    RealtimeModelConnectionStatusEvent: {"status": "reconnecting", "reason": "drop", "attempt": 2},
    RealtimeModelEndOfStreamEvent: {"reason": "closed"},
    RealtimeModelSessionUpdatedEvent: {"session": {"instructions": "x"}, "created": True},
    RealtimeModelTurnStartedEvent: {"response_id": "r"},
    RealtimeModelTurnEndedEvent: {"response_id": "r", "status": "cancelled"},
    RealtimeModelUsageEvent: {"usage": RealtimeUsage(input_tokens=3, output_tokens=4)},
    RealtimeModelOtherEvent: {"data": {"type": "vendor.thing"}},
    RealtimeModelExceptionEvent: {"exception": RuntimeError("boom"), "context": "decoder"},
    RealtimeModelRawServerEvent: {"data": {"type": "session.created"}},
}

SEND_ARGUMENTS: dict[type, dict[str, Any]] = {
    RealtimeModelSendRawMessage: {"message": {"type": "response.create"}},
    RealtimeModelSendUserInput: {"user_input": "hello", "start_response": False},
    RealtimeModelSendAudio: {"audio": b"\x00\x01", "commit": True},
    RealtimeModelSendClearAudio: {},
    RealtimeModelSendToolOutput: {"tool_call": TOOL_CALL, "output": "42"},
    RealtimeModelSendInterrupt: {"cancel_response": False, "response_id": "r"},
    RealtimeModelSendSessionUpdate: {"session_settings": {"instructions": "be brief"}},
    RealtimeModelSendCreateResponse: {"instructions": "again", "conversation": "none"},
    RealtimeModelSendConversationItem: {"item": ITEM, "previous_item_id": "root"},
    RealtimeModelSendDeleteItem: {"item_id": "item_1"},
}

EVENT_CLASSES: tuple[type, ...] = typing.get_args(RealtimeModelEvent)
SEND_CLASSES: tuple[type, ...] = typing.get_args(RealtimeModelSendEvent)


def type_literal(cls: type) -> str:
    """The single value of a class's `type: Literal[...]` annotation."""
    hint = typing.get_type_hints(cls)["type"]
    assert typing.get_origin(hint) is typing.Literal
    (value,) = typing.get_args(hint)
    assert isinstance(value, str)
    return value


def test_every_union_member_has_construction_arguments() -> None:
    assert set(EVENT_ARGUMENTS) == set(EVENT_CLASSES)
    assert set(SEND_ARGUMENTS) == set(SEND_CLASSES)
    assert len(EVENT_CLASSES) == 30
    assert len(SEND_CLASSES) == 10


@pytest.mark.parametrize(
    ("cls", "arguments"),
    [*EVENT_ARGUMENTS.items(), *SEND_ARGUMENTS.items()],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_construction_keeps_fields_and_sets_the_type_literal(
    cls: type, arguments: dict[str, Any]
) -> None:
    event = cls(**arguments)
    for name, value in arguments.items():
        assert getattr(event, name) == value
    assert event.type == type_literal(cls)


@pytest.mark.parametrize(
    ("cls", "arguments"),
    [*EVENT_ARGUMENTS.items(), *SEND_ARGUMENTS.items()],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_events_are_immutable(cls: type, arguments: dict[str, Any]) -> None:
    event = cls(**arguments)
    with pytest.raises(AttributeError):
        event.type = "changed"
    for name in arguments:
        with pytest.raises(AttributeError):
            setattr(event, name, None)


def test_event_type_literals_are_unique() -> None:
    literals = [type_literal(cls) for cls in EVENT_CLASSES]
    assert len(set(literals)) == len(literals), sorted(literals)


def test_send_event_type_literals_are_unique() -> None:
    literals = [type_literal(cls) for cls in SEND_CLASSES]
    assert len(set(literals)) == len(literals), sorted(literals)


def test_events_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        RealtimeModelItemDeletedEvent("item_1")  # type: ignore[misc]


def test_events_convert_from_plain_dicts() -> None:
    event = msgspec.convert(
        {"item_id": "i", "delta": "x", "response_id": "r"}, RealtimeModelTranscriptDeltaEvent
    )
    assert event == RealtimeModelTranscriptDeltaEvent(item_id="i", delta="x", response_id="r")


@pytest.mark.parametrize("message", [{}, {"event": "x"}, {"type": 1}, {"type": None}])
def test_raw_message_needs_a_string_type(message: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="type"):
        RealtimeModelSendRawMessage(message=message)


def test_raw_message_with_a_type_is_kept_as_is() -> None:
    message = {"type": "conversation.item.delete", "item_id": "item_1"}
    assert RealtimeModelSendRawMessage(message=message).message == message


def test_equality_is_by_class_and_fields() -> None:
    assert RealtimeModelTurnStartedEvent(response_id="r") == RealtimeModelTurnStartedEvent(
        response_id="r"
    )
    assert RealtimeModelTurnStartedEvent(response_id="r") != RealtimeModelTurnStartedEvent(
        response_id="other"
    )
    # Same field values, different classes: never equal.
    assert RealtimeModelAudioDoneEvent(item_id="i") != RealtimeModelAudioInterruptedEvent(
        item_id="i"
    )
    assert RealtimeModelSendUserInput(user_input="hi") == RealtimeModelSendUserInput(
        user_input="hi", start_response=True
    )
    assert RealtimeModelSendUserInput(user_input="hi") != RealtimeModelSendUserInput(
        user_input="hi", start_response=False
    )
    assert RealtimeModelSendAudio(audio=b"\x00") != RealtimeModelSendAudio(audio=b"\x01")


def test_events_with_hashable_fields_hash_by_value() -> None:
    first = RealtimeModelItemTruncatedEvent(item_id="i", audio_end_ms=10)
    second = RealtimeModelItemTruncatedEvent(item_id="i", audio_end_ms=10)
    assert hash(first) == hash(second)
    assert len({first, second, RealtimeModelItemTruncatedEvent(item_id="i", audio_end_ms=11)}) == 2


def test_defaults() -> None:
    assert RealtimeModelSendUserInput(user_input="x").start_response is True
    assert RealtimeModelSendAudio(audio=b"").commit is False
    interrupt = RealtimeModelSendInterrupt()
    assert interrupt.cancel_response is True and interrupt.response_id is None
    assert RealtimeModelAudioEvent(data=b"", response_id="r", item_id="i").content_index == 0
    assert RealtimeErrorInfo(message="m").type == "invalid_request_error"
