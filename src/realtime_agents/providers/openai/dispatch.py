"""Ordered delivery of model events to listeners from one task, through a bounded queue.

The socket reader `put`s events; when the queue is full it waits, so it stops reading, the
socket's buffers fill and TCP pushes back on the server. Nothing is dropped. A listener that
raises is reported to the other listeners as an `exception` event; delivery goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ...events import RealtimeModelEvent, RealtimeModelExceptionEvent
from ...model import RealtimeModelListener

logger = logging.getLogger("realtime_agents.providers.openai")

DEFAULT_EVENT_QUEUE_SIZE = 256


class BoundedEventQueue:
    """A FIFO of events with a bound on `put`; `put_final` bypasses it for the last events."""

    def __init__(self, maxsize: int = DEFAULT_EVENT_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"the event queue size must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self.high_water = 0
        """The most events ever waiting at once (for tests and diagnostics)."""
        self._items: deque[RealtimeModelEvent] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, event: RealtimeModelEvent) -> None:
        """Append, waiting while the queue is full."""
        items = self._items
        while len(items) >= self.maxsize:
            self._not_full.clear()
            await self._not_full.wait()
        items.append(event)
        if len(items) > self.high_water:
            self.high_water = len(items)
        self._not_empty.set()

    def put_final(self, event: RealtimeModelEvent) -> None:
        """Append without waiting: only for the few events that end a stream."""
        self._items.append(event)
        self._not_empty.set()

    async def get(self) -> RealtimeModelEvent:
        """Take the oldest event, waiting while there is none."""
        items = self._items
        while not items:
            self._not_empty.clear()
            await self._not_empty.wait()
        event = items.popleft()
        if len(items) < self.maxsize:
            self._not_full.set()
        return event


class Dispatcher:
    """Delivers queued events to every listener in order, from its own task."""

    def __init__(self, maxsize: int = DEFAULT_EVENT_QUEUE_SIZE) -> None:
        self.queue = BoundedEventQueue(maxsize)
        self._listeners: tuple[RealtimeModelListener, ...] = ()
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def add_listener(self, listener: RealtimeModelListener) -> None:
        if listener not in self._listeners:
            self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: RealtimeModelListener) -> None:
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="realtime-agents-dispatch"
            )

    async def _run(self) -> None:
        get = self.queue.get
        while True:
            event = await get()
            for listener in self._listeners:
                try:
                    await listener.on_event(event)
                except Exception as exc:  # a listener's bug must not stop the others
                    await self._report(listener, exc, event)
            if event.type == "end_of_stream":
                return

    async def _report(
        self, failed: RealtimeModelListener, exc: Exception, event: RealtimeModelEvent
    ) -> None:
        logger.warning(
            "realtime listener %s raised on a %s event", type(failed).__name__, event.type
        )
        report = RealtimeModelExceptionEvent(
            exception=exc,
            context=f"listener {type(failed).__name__} raised on a {event.type!r} event",
        )
        for listener in self._listeners:
            if listener is failed:
                continue
            try:
                await listener.on_event(report)
            except Exception:
                logger.exception("realtime listener %s raised on an exception event", listener)
