"""Audio kept beside conversation items for `conversation.item.retrieve`, and its budget.

User input audio and assistant output audio are both returned by `retrieve` (base64 in the
content part's `audio`), truncation cuts the assistant audio, and a per-session byte budget
(`ProtocolLimits.max_retained_audio_bytes`) drops the oldest items' audio first, so a long
session's memory stays bounded. Every event is validated against the openai GA types.
"""

from __future__ import annotations

import base64
from typing import Any

from server_helpers import Harness, events

from realtime_agents.server.effects import ProtocolLimits


def retrieved_audio(harness: Harness, item_id: str) -> bytes | None:
    """The audio `conversation.item.retrieve` returns for the item, None when it has none."""
    out = harness.send({"type": "conversation.item.retrieve", "item_id": item_id})
    (event,) = events(out, "conversation.item.retrieved")
    (part,) = event["item"]["content"]
    audio = part.get("audio")
    return None if audio is None else base64.b64decode(audio)


def spoken_response(harness: Harness, chunks: list[bytes]) -> str:
    """A response of `chunks` of assistant audio (with a transcript); its item id."""
    start = harness.create_response()
    core = harness.core
    out = harness.check(core.response_text(start.response_id, "Hello there."))
    for chunk in chunks:
        out += harness.check(core.response_audio(start.response_id, chunk))
    out += harness.check(core.response_finished(start.response_id, harness.now))
    (added,) = events(out, "conversation.item.added")
    item_id: str = added["item"]["id"]
    return item_id


def user_audio(harness: Harness, audio: bytes) -> str:
    """A user item holding `audio` (with a transcript, so nothing is transcribed); its id."""
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [
            {
                "type": "input_audio",
                "audio": base64.b64encode(audio).decode(),
                "transcript": "hi",
            }
        ],
    }
    out = harness.send({"type": "conversation.item.create", "item": item})
    (added,) = events(out, "conversation.item.added")
    item_id: str = added["item"]["id"]
    return item_id


def test_assistant_audio_is_retrieved_and_truncation_cuts_it() -> None:
    harness = Harness()
    harness.user_text("Say hello.")
    first, second = bytes(range(200)) * 24, bytes(range(100, 200)) * 48  # 4,800 bytes each
    item_id = spoken_response(harness, [first, second])
    assert retrieved_audio(harness, item_id) == first + second
    harness.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 50,  # 2,400 bytes of PCM16 at 24 kHz
        }
    )
    assert retrieved_audio(harness, item_id) == first[:2400]
    assert harness.core.conversation.audio_bytes == 2400


def test_the_budget_drops_the_oldest_items_audio_first() -> None:
    harness = Harness(ProtocolLimits(max_retained_audio_bytes=10_000))
    conversation = harness.core.conversation
    old = user_audio(harness, b"\x01\x00" * 3000)  # 6,000 bytes
    assert retrieved_audio(harness, old) == b"\x01\x00" * 3000
    new = user_audio(harness, b"\x02\x00" * 3000)  # over the budget: the old audio goes
    assert retrieved_audio(harness, old) is None
    assert retrieved_audio(harness, new) == b"\x02\x00" * 3000
    assert conversation.audio_bytes == 6000
    reply = spoken_response(harness, [bytes(2400), bytes(2400)])  # 4,800: the user audio goes
    assert retrieved_audio(harness, new) is None
    assert retrieved_audio(harness, reply) == bytes(4800)
    assert conversation.audio_bytes == 4800 <= conversation.max_audio_bytes
    harness.send({"type": "conversation.item.delete", "item_id": reply})
    assert conversation.audio_bytes == 0


def test_audio_longer_than_the_budget_is_not_kept_but_its_length_is() -> None:
    harness = Harness(ProtocolLimits(max_retained_audio_bytes=5000))
    harness.user_text("Talk for a while.")
    item_id = spoken_response(harness, [bytes(2400)] * 3)  # 7,200 bytes
    assert retrieved_audio(harness, item_id) is None
    assert harness.core.conversation.audio_bytes == 0
    # Truncation still knows how much audio there was (150 ms) and cuts the transcript.
    out = harness.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 100,
        }
    )
    assert [o["type"] for o in out if isinstance(o, dict)] == ["conversation.item.truncated"]
    error = harness.error(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 120,  # now longer than what is left
        }
    )
    assert error["code"] == "invalid_value" and error["param"] == "audio_end_ms"


def test_the_user_turns_transcription_usage_survives_a_dropped_audio() -> None:
    """A committed turn's audio may be dropped before its transcript arrives; the usage of
    `...transcription.completed` still counts its duration."""
    harness = Harness(ProtocolLimits(max_retained_audio_bytes=1000))
    transcription = {"transcription": {"model": "whisper-1"}, "turn_detection": None}
    harness.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": transcription}},
        }
    )
    audio = base64.b64encode(bytes(48_000)).decode()  # 1 s
    harness.send({"type": "input_audio_buffer.append", "audio": audio})
    out = harness.send({"type": "input_audio_buffer.commit"})
    (committed,) = events(out, "input_audio_buffer.committed")
    item_id = committed["item_id"]
    assert retrieved_audio(harness, item_id) is None  # 1 s of audio is over the budget
    done = harness.check(harness.core.transcription_completed(item_id, "Hello."))
    (completed,) = events(done, "conversation.item.input_audio_transcription.completed")
    assert completed["usage"] == {"type": "duration", "seconds": 1.0}


def test_deleting_an_item_while_its_audio_streams_keeps_the_budget_exact() -> None:
    harness = Harness()
    harness.user_text("Say hello.")
    start = harness.create_response()
    core = harness.core
    out = harness.check(core.response_audio(start.response_id, bytes(4800)))
    (added,) = events(out, "conversation.item.added")
    harness.send({"type": "conversation.item.delete", "item_id": added["item"]["id"]})
    harness.check(core.response_audio(start.response_id, bytes(4800)))
    harness.check(core.response_finished(start.response_id, harness.now))
    assert core.conversation.audio_bytes == 0


def test_the_default_budget_keeps_the_last_exchange() -> None:
    """4 MiB (about 87 s of 24 kHz PCM16) by default: a minute-long user turn and a 25 s answer
    are both retrievable; the next exchange pushes the first out."""
    harness = Harness()
    assert harness.core.conversation.max_audio_bytes == 4 * 1024 * 1024
    turn = user_audio(harness, b"\x03\x00" * 24_000 * 60)  # 60 s
    answer = spoken_response(harness, [bytes(48_000)] * 25)  # 25 s
    assert retrieved_audio(harness, turn) == b"\x03\x00" * 24_000 * 60
    assert retrieved_audio(harness, answer) == bytes(48_000 * 25)
    next_turn = user_audio(harness, b"\x04\x00" * 24_000 * 10)  # 10 s more: the oldest goes
    assert retrieved_audio(harness, turn) is None
    assert retrieved_audio(harness, answer) == bytes(48_000 * 25)
    assert retrieved_audio(harness, next_turn) == b"\x04\x00" * 24_000 * 10
