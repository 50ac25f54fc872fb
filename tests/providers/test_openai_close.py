"""`close()` with listeners slower than the close timeout (issue 14, item 12)."""

from __future__ import annotations

import asyncio

from provider_helpers import Collector, open_model

from realtime_agents.events import RealtimeModelEvent
from realtime_agents.testing.fake_server import FakeRealtimeServer

QUEUED = 40


class StuckListener(Collector):
    """Records events, but stops at the first vendor event until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.stuck = asyncio.Event()

    async def on_event(self, event: RealtimeModelEvent) -> None:
        if event.type == "other":
            self.stuck.set()
            await self.gate.wait()
        await super().on_event(event)


async def test_close_returns_while_a_listener_is_stuck_and_still_ends_its_stream(
    server: FakeRealtimeServer,
) -> None:
    listener = StuckListener()
    model = await open_model(server, listener, model_options={"transport": {"close_timeout": 0.2}})
    for index in range(QUEUED):
        await server.send({"type": "vendor.note", "index": index})
    await asyncio.wait_for(listener.stuck.wait(), 10)
    queue = model.event_queue
    async with asyncio.timeout(10):
        while len(queue) < QUEUED - 1:  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)

    # Before the fix, close() waited for the listener to take all 40 events: forever here.
    await asyncio.wait_for(model.close(), 10)
    assert "end_of_stream" not in listener.types()  # the listener is still on its first event

    listener.gate.set()
    end = await listener.wait_for("end_of_stream")
    disconnected = listener.of("connection_status")[-1]
    assert disconnected.status == "disconnected"
    assert listener.types()[-2:] == ["connection_status", "end_of_stream"]
    delivered = len(listener.of("other"))
    assert 1 <= delivered < QUEUED
    assert f"{QUEUED - delivered} events were not delivered" in (disconnected.reason or "")
    assert end.reason == disconnected.reason
    assert listener.types().count("end_of_stream") == 1


async def test_close_with_a_prompt_listener_delivers_everything(
    server: FakeRealtimeServer,
) -> None:
    listener = Collector()
    model = await open_model(server, listener, model_options={"transport": {"close_timeout": 5}})
    for index in range(QUEUED):
        await server.send({"type": "vendor.note", "index": index})
    await listener.wait_for("other", QUEUED)
    await model.close()
    assert listener.types()[-1] == "end_of_stream"
    assert "not delivered" not in (listener.of("end_of_stream")[0].reason or "")
