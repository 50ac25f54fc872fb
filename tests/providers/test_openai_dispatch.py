"""The dispatcher's eager delivery: order, waiting listeners, failures, re-entrant events."""

from __future__ import annotations

import asyncio

from realtime_agents.events import (
    RealtimeModelEndOfStreamEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
    RealtimeModelOtherEvent,
)
from realtime_agents.providers.openai.dispatch import Dispatcher


def other(n: int) -> RealtimeModelOtherEvent:
    return RealtimeModelOtherEvent(data=n)


class Recorder:
    """Records (name, payload) per event; optionally waits or raises on given payloads."""

    def __init__(
        self,
        name: str,
        log: list[tuple[str, object]],
        *,
        wait_on: set[int] | None = None,
        raise_on: set[int] | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.name, self.log = name, log
        self.wait_on, self.raise_on = wait_on or set(), raise_on or set()
        self.gate = gate

    async def on_event(self, event: RealtimeModelEvent) -> None:
        if isinstance(event, RealtimeModelExceptionEvent):
            self.log.append((self.name, f"exception:{event.exception}"))
            return
        if isinstance(event, RealtimeModelEndOfStreamEvent):
            self.log.append((self.name, "end"))
            return
        assert isinstance(event, RealtimeModelOtherEvent)
        n = event.data
        if n in self.wait_on:
            assert self.gate is not None
            await self.gate.wait()
        self.log.append((self.name, n))
        if n in self.raise_on:
            raise RuntimeError(f"boom {n}")


async def started(dispatcher: Dispatcher) -> None:
    dispatcher.start()
    for _ in range(3):
        await asyncio.sleep(0)  # the task reaches its idle wait


async def finish(dispatcher: Dispatcher) -> None:
    dispatcher.queue.put_final(RealtimeModelEndOfStreamEvent(reason="done"))
    task = dispatcher.task
    assert task is not None
    await asyncio.wait_for(task, 5)


async def test_listeners_that_do_not_wait_run_inside_deliver() -> None:
    log: list[tuple[str, object]] = []
    dispatcher = Dispatcher()
    dispatcher.add_listener(Recorder("a", log))
    dispatcher.add_listener(Recorder("b", log))
    await started(dispatcher)
    dispatcher.deliver(other(1))
    assert log == [("a", 1), ("b", 1)]  # delivered before deliver() returned
    await finish(dispatcher)


async def test_a_waiting_listener_keeps_the_order_for_every_listener() -> None:
    log: list[tuple[str, object]] = []
    gate = asyncio.Event()
    dispatcher = Dispatcher()
    dispatcher.add_listener(Recorder("a", log, wait_on={2}, gate=gate))
    dispatcher.add_listener(Recorder("b", log))
    await started(dispatcher)
    for n in (1, 2, 3, 4):
        dispatcher.deliver(other(n))
    assert log == [("a", 1), ("b", 1)]  # 2 waits in a; 3 and 4 are queued behind it
    gate.set()
    await finish(dispatcher)
    expected = [(name, n) for n in (1, 2, 3, 4) for name in ("a", "b")]
    assert log == [*expected, ("a", "end"), ("b", "end")]


async def test_a_raising_listener_is_reported_to_the_others_and_delivery_goes_on() -> None:
    log: list[tuple[str, object]] = []
    gate = asyncio.Event()
    gate.set()
    dispatcher = Dispatcher()
    dispatcher.add_listener(Recorder("a", log, raise_on={1, 2}, wait_on={2}, gate=gate))
    dispatcher.add_listener(Recorder("b", log))
    await started(dispatcher)
    dispatcher.deliver(other(1))  # raises without waiting
    dispatcher.deliver(other(2))  # waits, then raises
    dispatcher.deliver(other(3))
    await finish(dispatcher)
    assert log == [
        ("a", 1),
        ("b", "exception:boom 1"),
        ("b", 1),
        ("a", 2),
        ("b", "exception:boom 2"),
        ("b", 2),
        ("a", 3),
        ("b", 3),
        ("a", "end"),
        ("b", "end"),
    ]


async def test_an_event_delivered_from_inside_a_listener_comes_after_the_current_one() -> None:
    log: list[tuple[str, object]] = []
    dispatcher = Dispatcher()

    class Emitter:
        async def on_event(self, event: RealtimeModelEvent) -> None:
            if isinstance(event, RealtimeModelOtherEvent):
                log.append(("emitter", event.data))
                if event.data == 1:
                    dispatcher.deliver(other(10))  # e.g. an interrupt sent from a listener

    dispatcher.add_listener(Emitter())
    dispatcher.add_listener(Recorder("b", log))
    await started(dispatcher)
    dispatcher.deliver(other(1))
    await finish(dispatcher)
    assert log[:4] == [("emitter", 1), ("b", 1), ("emitter", 10), ("b", 10)]


async def test_a_waiting_listener_is_cancelled_with_the_dispatcher() -> None:
    cancelled = asyncio.Event()

    class Stuck:
        async def on_event(self, event: RealtimeModelEvent) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    dispatcher = Dispatcher()
    dispatcher.add_listener(Stuck())
    await started(dispatcher)
    dispatcher.deliver(other(1))
    await asyncio.sleep(0)
    task = dispatcher.task
    assert task is not None
    task.cancel()
    await asyncio.wait({task})
    assert cancelled.is_set()
