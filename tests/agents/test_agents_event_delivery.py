"""Event fan-out: every consumer gets every event, bounded queues with back-pressure, endings."""

from __future__ import annotations

import asyncio

from agent_test_helpers import GUARD_S, EventRecorder, assistant_turn

from realtime_agents import RealtimeModelAudioEvent, RealtimeModelOtherEvent
from realtime_agents.agents import RealtimeAgent, RealtimeRunner
from realtime_agents.agents.broadcast import Broadcaster
from realtime_agents.testing import ScriptedRealtimeModel


def audio(n: int) -> RealtimeModelAudioEvent:
    return RealtimeModelAudioEvent(data=n.to_bytes(2, "little"), response_id="r", item_id="a")


async def test_several_consumers_each_get_every_event() -> None:
    model = ScriptedRealtimeModel()
    session = await RealtimeRunner(RealtimeAgent(name="a"), model=model).run()
    first, second = EventRecorder(session), EventRecorder(session)
    async with session:
        await model.emit(*assistant_turn("r1", "a1", "Hello", audio=b"\x00\x00"))
        await model.emit(RealtimeModelOtherEvent(data={"type": "vendor.thing"}))
    got_first, got_second = await first.rest(), await second.rest()
    assert got_first == got_second
    assert [e.type for e in got_first] == [
        "agent_start",
        "audio",
        "transcript_delta",
        "history_added",
        "turn_metrics",
        "agent_end",
        "raw_model_event",
    ]


async def test_slow_consumer_keeps_memory_bounded_and_loses_nothing() -> None:
    bound, total = 16, 10_000
    model = ScriptedRealtimeModel()
    runner = RealtimeRunner(
        RealtimeAgent(name="a"), model=model, config={"event_queue_size": bound}
    )
    async with await runner.run() as session:
        queue = session.events()
        (subscription,) = session.event_queues
        producer = asyncio.create_task(model.emit(*(audio(i) for i in range(total))))
        # Not reading: the queue fills to its bound and the producer waits.
        for _ in range(50):
            await asyncio.sleep(0)
        assert len(subscription) == bound
        assert not producer.done()
        received: list[int] = []
        async with asyncio.timeout(GUARD_S):
            async for event in queue:
                assert len(subscription) <= bound
                assert event.type == "audio"
                received.append(int.from_bytes(event.data, "little"))
                await asyncio.sleep(0)  # a slow consumer
                if len(received) == total:
                    break
        await producer
    assert received == list(range(total))
    assert subscription.high_water_mark == bound


async def test_a_consumer_that_breaks_out_is_removed_and_blocks_nobody() -> None:
    model = ScriptedRealtimeModel()
    runner = RealtimeRunner(RealtimeAgent(name="a"), model=model, config={"event_queue_size": 2})
    async with await runner.run() as session:
        quitter, stayer = session.events(), EventRecorder(session)
        assert len(session.event_queues) == 2
        producer = asyncio.create_task(model.emit(*(audio(i) for i in range(20))))
        async for _ in quitter:
            break
        await stayer.until("audio", count=20)
        await producer
        assert len(session.event_queues) == 1


async def test_iteration_ends_on_end_of_stream_and_on_close() -> None:
    model = ScriptedRealtimeModel()
    async with await RealtimeRunner(RealtimeAgent(name="a"), model=model).run() as session:
        events = EventRecorder(session)
        await model.disconnect("server went away")
        rest = await events.rest()
        assert rest[-1].type == "raw_model_event"
        assert rest[-1].data.type == "end_of_stream"
        assert rest[-1].data.reason == "server went away"
    late = EventRecorder(session)
    assert await late.rest() == []  # a consumer arriving after the end stops at once

    model2 = ScriptedRealtimeModel()
    session2 = await RealtimeRunner(RealtimeAgent(name="b"), model=model2).run()
    events2 = EventRecorder(session2)
    async with session2:
        waiting = asyncio.create_task(events2.rest())
        await asyncio.sleep(0)
    assert await waiting == []


async def test_events_published_before_anyone_listens_are_held_for_the_first_consumer() -> None:
    broadcaster: Broadcaster[int] = Broadcaster(maxsize=3)
    for n in range(5):
        await broadcaster.publish(n)
    early = broadcaster.subscribe()
    late = broadcaster.subscribe()

    async def publish_then_close() -> None:
        await broadcaster.publish(5)  # waits: `early` is full with the held events
        broadcaster.close()

    async with asyncio.timeout(GUARD_S):
        publisher = asyncio.create_task(publish_then_close())
        assert [n async for n in early] == [2, 3, 4, 5]  # the last 3 held, then live ones
        assert [n async for n in late] == [5]
        await publisher
