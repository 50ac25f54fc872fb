"""The bounded event queue between the socket reader and the listeners."""

from __future__ import annotations

import asyncio

from realtime_agents.events import RealtimeModelConnectionStatusEvent, RealtimeModelEvent
from realtime_agents.providers.openai.dispatch import BoundedEventQueue


def _event(i: int) -> RealtimeModelEvent:
    return RealtimeModelConnectionStatusEvent(status="connected", reason=str(i))


def _index(event: RealtimeModelEvent) -> int:
    assert isinstance(event, RealtimeModelConnectionStatusEvent)
    assert event.reason is not None
    return int(event.reason)


async def test_order_is_kept_across_compaction_and_a_drained_queue_holds_nothing() -> None:
    queue = BoundedEventQueue(maxsize=1000)
    got: list[int] = []
    sent = 0
    for round_size in (1, 7, 250, 64, 129, 300):
        for _ in range(round_size):
            await queue.put(_event(sent))
            sent += 1
        for _ in range(round_size // 2):  # leave a tail, so the consumed prefix is compacted
            got.append(_index(await queue.get()))
    while len(queue):
        got.append(_index(await queue.get()))
    assert got == list(range(sent))
    assert queue.high_water <= 1000
    assert queue._items == [] and queue._head == 0  # the lean idle state


async def test_a_full_queue_parks_the_producer_until_the_consumer_takes_one() -> None:
    queue = BoundedEventQueue(maxsize=2)
    await queue.put(_event(0))
    await queue.put(_event(1))
    producer = asyncio.ensure_future(queue.put(_event(2)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not producer.done()
    assert len(queue) == 2
    assert _index(await queue.get()) == 0
    await asyncio.wait_for(producer, 5)
    assert [_index(await queue.get()) for _ in range(2)] == [1, 2]
    assert queue.high_water == 2


async def test_put_final_passes_the_bound_and_wakes_a_waiting_consumer() -> None:
    queue = BoundedEventQueue(maxsize=1)
    consumer = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_final(_event(0))
    assert _index(await asyncio.wait_for(consumer, 5)) == 0
    await queue.put(_event(1))
    queue.put_final(_event(2))
    assert len(queue) == 2
    assert [_index(await queue.get()) for _ in range(2)] == [1, 2]


async def test_a_cancelled_waiter_does_not_block_the_next_one() -> None:
    queue = BoundedEventQueue(maxsize=1)
    first = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait({first})
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    await queue.put(_event(5))
    assert _index(await asyncio.wait_for(second, 5)) == 5
    await queue.put(_event(6))
    blocked = asyncio.ensure_future(queue.put(_event(7)))
    await asyncio.sleep(0)
    blocked.cancel()
    await asyncio.wait({blocked})
    assert _index(await queue.get()) == 6
    assert len(queue) == 0
