"""Fan-out of session events: every consumer gets every event, through its own bounded queue.

Back-pressure: `publish` waits while any consumer's queue is full, so memory stays bounded and
the slowest consumer paces delivery. A consumer that stops iterating (breaks out, or its
iterator is closed) is removed and no longer holds anyone up. Events published while nobody is
subscribed are held, up to the same bound (oldest dropped past it), for the next subscriber.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_QUEUE_SIZE = 1024


class Subscription(Generic[T]):
    """One consumer's bounded queue. Iterate it with `async for`; `close()` to leave early."""

    def __init__(self, broadcaster: Broadcaster[T], maxsize: int) -> None:
        self._broadcaster = broadcaster
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._ended = False
        self._detached = False
        self.high_water_mark = 0
        """The most events this queue ever held at once (never above the bound)."""

    def __len__(self) -> int:
        return len(self._items)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        try:
            while True:
                while not self._items:
                    if self._ended:
                        return
                    self._not_empty.clear()
                    await self._not_empty.wait()
                item = self._items.popleft()
                self._not_full.set()
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop receiving events; pending ones are dropped and publishers are not held up."""
        if self._detached:
            return
        self._detached = True
        self._ended = True
        self._items.clear()
        self._not_full.set()
        self._not_empty.set()
        self._broadcaster._remove(self)

    async def _put(self, item: T) -> None:
        while len(self._items) >= self._maxsize and not self._detached:
            self._not_full.clear()
            await self._not_full.wait()
        if self._detached or self._ended:
            return
        self._items.append(item)
        self.high_water_mark = max(self.high_water_mark, len(self._items))
        self._not_empty.set()

    def _preload(self, items: deque[T]) -> None:
        self._items.extend(items)
        self.high_water_mark = max(self.high_water_mark, len(self._items))
        if self._items:
            self._not_empty.set()

    def _end(self) -> None:
        """No more events; the consumer drains what is queued, then iteration stops."""
        self._ended = True
        self._not_empty.set()
        self._not_full.set()


class Broadcaster(Generic[T]):
    """Publishes each event to every subscription, waiting for room (see the module docs)."""

    def __init__(self, maxsize: int = DEFAULT_MAX_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"the event queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._subscriptions: list[Subscription[T]] = []
        self._backlog: deque[T] = deque(maxlen=maxsize)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `close()` was called; new subscriptions end at once."""
        return self._closed

    @property
    def subscriptions(self) -> tuple[Subscription[T], ...]:
        """The live subscriptions."""
        return tuple(self._subscriptions)

    def subscribe(self) -> Subscription[T]:
        """A new consumer; it gets events held while nobody was listening, then every new one."""
        subscription = Subscription(self, self.maxsize)
        if self._backlog:
            subscription._preload(self._backlog)
            self._backlog.clear()
        if self._closed:
            subscription._end()
        else:
            self._subscriptions.append(subscription)
        return subscription

    async def publish(self, item: T) -> None:
        """Deliver `item` to every consumer, waiting while a queue is full. No-op once closed."""
        if self._closed:
            return
        if not self._subscriptions:
            self._backlog.append(item)
            return
        for subscription in tuple(self._subscriptions):
            await subscription._put(item)

    def close(self) -> None:
        """End every subscription once it has drained; later publishes are dropped."""
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            subscription._end()

    def _remove(self, subscription: Subscription[T]) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
