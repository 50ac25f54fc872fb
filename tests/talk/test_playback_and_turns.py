"""The speaker queue, the turn state and the simulated echo path: sans-I/O pieces of `talk`."""

from __future__ import annotations

import asyncio

import pytest

from realtime_agents.talk.files import EchoPath
from realtime_agents.talk.playback import Playback, PlayedSegment
from realtime_agents.talk.turns import TurnState


def test_playback_reads_blocks_across_items_and_pads_with_silence() -> None:
    playback = Playback()
    playback.append("item_a", 0, b"\x01" * 6)
    playback.append("item_a", 0, b"\x02" * 4)
    playback.append("item_b", 0, b"\x03" * 4)
    first = playback.read(8)
    assert first.pcm == b"\x01" * 6 + b"\x02" * 2
    assert first.segments == (PlayedSegment("item_a", 0, 8),)
    second = playback.read(8)
    assert second.pcm == b"\x02" * 2 + b"\x03" * 4 + b"\x00" * 2
    assert second.segments == (PlayedSegment("item_a", 0, 2), PlayedSegment("item_b", 0, 4))
    assert second.audible_bytes == 6
    assert playback.queued_bytes == 0
    assert playback.read(4).segments == ()


def test_playback_flush_drops_everything_queued() -> None:
    playback = Playback()
    playback.append("item_a", 0, b"\x01" * 10)
    playback.read(4)
    assert playback.flush() == 6
    assert playback.read(4).pcm == b"\x00" * 4


async def test_playback_holds_writers_back_at_its_bound() -> None:
    playback = Playback(max_bytes=8)
    playback.append("item_a", 0, b"\x01" * 8)
    waiter = asyncio.create_task(playback.wait_for_room())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    playback.read(4)
    await asyncio.wait_for(waiter, 1.0)
    with pytest.raises(ValueError, match="positive"):
        Playback(max_bytes=0)


def test_turns_count_a_barge_in_only_while_the_assistant_replies() -> None:
    turns = TurnState()
    turns.tick(20, played_audio=False, queued_audio=False)
    assert turns.speech_started() is False
    turns.speech_stopped()
    assert turns.busy and turns.awaiting_reply
    turns.response_started()
    turns.tick(40, played_audio=True, queued_audio=True)
    turns.tick(100, played_audio=True, queued_audio=True)
    assert turns.audible_ms() == 60
    assert turns.speech_started() is True
    assert turns.barge_ins == 1
    turns.speech_stopped()
    turns.response_ended()
    turns.response_started()
    turns.response_ended()
    turns.tick(120, played_audio=False, queued_audio=False)
    turns.tick(900, played_audio=False, queued_audio=False)
    assert not turns.busy
    assert turns.quiet_ms() == 800  # busy until the reply ended at 100 ms
    assert turns.replies_finished == 2
    assert turns.speech_starts == [20, 100]


def test_turns_wait_for_the_reply_after_a_tool_call() -> None:
    turns = TurnState()
    turns.speech_started()
    turns.speech_stopped()
    turns.response_started()
    turns.tool_called()
    turns.response_ended()
    assert turns.busy and turns.replies_finished == 0
    turns.response_started()
    turns.response_ended()
    assert not turns.busy and turns.replies_finished == 1


def test_echo_path_parses_delay_and_attenuation() -> None:
    assert EchoPath.parse("120:10") == EchoPath(120.0, 10.0)
    assert EchoPath.parse("80") == EchoPath(80.0, 0.0)
    with pytest.raises(ValueError, match="DELAY_MS:ATTENUATION_DB"):
        EchoPath.parse("soon:loud")
    with pytest.raises(ValueError, match="negative"):
        EchoPath.parse("-5:3")
