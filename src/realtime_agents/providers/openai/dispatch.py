"""Ordered delivery of model events to listeners from one task, through a bounded queue.

The socket reader `put`s events; when the queue is full it waits, so it stops reading, the
socket's buffers fill and TCP pushes back on the server. Nothing is dropped. A listener that
raises is reported to the other listeners as an `exception` event; delivery goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from msgspec.structs import replace

from ...events import (
    RealtimeModelConnectionStatusEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
)
from ...model import RealtimeModelListener

logger = logging.getLogger("realtime_agents.providers.openai")

DEFAULT_EVENT_QUEUE_SIZE = 256


class BoundedEventQueue:
    """A FIFO of events with a bound on `put`; `put_final` bypasses it for the last events.

    Lean per session (there may be thousands idle): the events live in a list consumed from
    `_head` (compacted as it goes, so an idle queue holds no buffer), and the waiters are
    futures made only while someone actually waits.
    """

    def __init__(self, maxsize: int = DEFAULT_EVENT_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"the event queue size must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self.high_water = 0
        """The most events ever waiting at once (for tests and diagnostics)."""
        self._items: list[RealtimeModelEvent | None] = []
        self._head = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._getter: asyncio.Future[None] | None = None
        self._putters: list[asyncio.Future[None]] | None = None
        self.on_room: Callable[[], None] | None = None
        """Called (from `get`) when the queue has room again after `has_room` said no."""
        self._blocked = False
        self._spill: list[RealtimeModelEvent] | None = None
        """Events `push`ed to a full queue: they enter it, in order, as room frees."""

    def __len__(self) -> int:
        return len(self._items) - self._head

    def has_room(self) -> bool:
        """True if `push` stays within the bound; if not, `on_room` is called once there is."""
        if self._spill is None and len(self._items) - self._head < self.maxsize:
            return True
        self._blocked = True
        return False

    async def put(self, event: RealtimeModelEvent) -> None:
        """Append, waiting while the queue is full."""
        await self.wait_for_room()
        self.push(event)

    async def wait_for_room(self) -> None:
        """Wait while the queue is full."""
        while len(self._items) - self._head >= self.maxsize:
            waiter = asyncio.get_running_loop().create_future()
            if self._putters is None:
                self._putters = []
            self._putters.append(waiter)
            try:
                await waiter
            finally:
                if self._putters is not None and waiter in self._putters:
                    self._putters.remove(waiter)

    def push(self, event: RealtimeModelEvent) -> None:
        """Append without waiting (callers check `has_room` first); wakes the consumer.

        Past the bound (one server frame can make several events) the event waits in a spill
        list, so the queue itself never holds more than `maxsize`.
        """
        items = self._items
        size = len(items) - self._head
        if size >= self.maxsize or self._spill is not None:
            if self._spill is None:
                self._spill = []
            self._spill.append(event)
            self._blocked = True
            return
        items.append(event)
        size += 1
        if size > self.high_water:
            self.high_water = size
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def put_final(self, event: RealtimeModelEvent) -> None:
        """Append without waiting: only for the few events that end a stream."""
        if self._spill is not None:
            self._spill.append(event)  # after the events already waiting to enter
            return
        self._items.append(event)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def discard_undelivered(self) -> list[RealtimeModelEvent]:
        """Take every event not yet taken (spilled ones too) out of the queue, in order."""
        dropped = [e for e in self._items[self._head :] if e is not None]
        dropped.extend(self._spill or ())
        self._items.clear()
        self._head = 0
        self._spill = None
        self._blocked = False
        putters, self._putters = self._putters, None
        for waiter in putters or ():
            if not waiter.done():
                waiter.set_result(None)
        return dropped

    def wake(self) -> None:
        """Wake the consumer waiting in `wait` even though nothing was pushed."""
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    async def wait(self) -> None:
        """Wait until an event is pushed or `wake` is called (returns at once if not empty)."""
        if self._head < len(self._items):
            return
        # One consumer task, so its loop is cached (get_running_loop costs a getpid call).
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._getter = waiter
        try:
            await waiter
        finally:
            if self._getter is waiter:
                self._getter = None

    async def get(self) -> RealtimeModelEvent:
        """Take the oldest event, waiting while there is none."""
        while self._head >= len(self._items):
            await self.wait()
        return self.pop()

    def pop(self) -> RealtimeModelEvent:
        """Take the oldest event (the queue must not be empty)."""
        items = self._items
        head = self._head
        event = items[head]
        head += 1
        if head >= len(items):
            items.clear()  # drained: frees the list's buffer too
            head = 0
        elif head >= 64 and head * 2 >= len(items):
            del items[:head]  # amortised O(1): the consumed prefix is at least half the list
            head = 0
        else:
            items[head - 1] = None  # do not keep the delivered event alive
        self._head = head
        spill = self._spill
        if spill is not None:
            items.append(spill.pop(0))
            if not spill:
                self._spill = None
        elif self._blocked and len(items) - head < self.maxsize:
            self._blocked = False
            if self.on_room is not None:
                self.on_room()
        putters = self._putters
        if putters and len(items) - self._head < self.maxsize:
            self._putters = None
            for waiter in putters:
                if not waiter.done():
                    waiter.set_result(None)
        assert event is not None
        return event


class _Resume:
    """Awaiting this runs the rest of a coroutine that was started outside any task (by
    `coro.send(None)`) and suspended at `yielded`: the awaiting task then drives it exactly as
    if it had run it from the start (it waits on the same future, forwards cancellation)."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, None, None]:
        coro, yielded = self._coro, self._yielded
        self._yielded = None
        while True:
            try:
                yield yielded
            except BaseException as exc:  # the task was cancelled: the coroutine sees it
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                yielded = coro.send(None)
            except StopIteration:
                return


class Dispatcher:
    """Delivers events to every listener in order.

    `deliver` runs the listeners right away, in the caller's callback, when nothing is queued
    or being delivered: most listeners finish without waiting, so a socket read reaches them
    with no task switch. A listener that does wait is finished by the dispatcher's task, and
    events arriving meanwhile queue behind it, so the order is kept. Queued events (and every
    event while a delivery is unfinished) go through the task.
    """

    def __init__(self, maxsize: int = DEFAULT_EVENT_QUEUE_SIZE) -> None:
        self.queue = BoundedEventQueue(maxsize)
        self._listeners: tuple[RealtimeModelListener, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._busy = True
        """The task holds an event or a continuation, or has not started: no eager delivery."""
        self._eager = False
        """An eager delivery is on the stack (a listener that emits must not overtake it)."""
        self._continuation: Coroutine[Any, Any, None] | None = None

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

    def deliver(self, event: RealtimeModelEvent) -> None:
        """Deliver now if the dispatcher is idle, else queue (callers check `has_room`)."""
        queue = self.queue
        if self._busy or self._eager or queue._head < len(queue._items):
            queue.push(event)
            return
        listeners = self._listeners
        self._eager = True
        try:
            for index, listener in enumerate(listeners):
                coro = listener.on_event(event)
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    continue
                except Exception as exc:  # a listener's bug must not stop the others
                    self._hand_over(self._rest(event, listeners[index + 1 :], listener, exc))
                    return
                # The listener waits: the task finishes it, then the rest, before later events.
                rest = listeners[index + 1 :]
                self._hand_over(self._finish(coro, yielded, event, listener, rest))
                return
        finally:
            self._eager = False

    def _hand_over(self, continuation: Coroutine[Any, Any, None]) -> None:
        self._busy = True
        self._continuation = continuation
        self.queue.wake()

    async def _finish(
        self,
        coro: Coroutine[Any, Any, None],
        yielded: Any,
        event: RealtimeModelEvent,
        listener: RealtimeModelListener,
        rest: tuple[RealtimeModelListener, ...],
    ) -> None:
        """The rest of a delivery whose listener waited in `deliver`."""
        failure: Exception | None = None
        try:
            await _Resume(coro, yielded)
        except Exception as exc:
            failure = exc
        await self._rest(event, rest, listener, failure)

    async def _rest(
        self,
        event: RealtimeModelEvent,
        rest: tuple[RealtimeModelListener, ...],
        failed: RealtimeModelListener,
        failure: Exception | None,
    ) -> None:
        if failure is not None:
            await self._report(failed, failure, event)
        for listener in rest:
            try:
                await listener.on_event(event)
            except Exception as exc:
                await self._report(listener, exc, event)

    def cut_short(self, describe: Callable[[int], str]) -> str | None:
        """End the stream after the event being delivered: drop the queued events but the
        final `disconnected` and `end_of_stream`, whose reason becomes `describe(dropped)`
        (returned) when any was dropped, so nothing is lost silently."""
        taken = self.queue.discard_undelivered()
        finals = [e for e in taken if _is_final(e)]
        dropped = len(taken) - len(finals)
        reason = describe(dropped) if dropped else None
        for event in finals:
            self.queue.put_final(event if reason is None else replace(event, reason=reason))
        return reason

    def in_listener(self) -> bool:
        """True when called from a listener (an eager delivery, or the dispatcher's task)."""
        return self._eager or (self._task is not None and asyncio.current_task() is self._task)

    async def _run(self) -> None:
        queue = self.queue
        while True:
            continuation = self._continuation
            if continuation is not None:
                try:
                    await continuation
                finally:
                    self._continuation = None
                continue
            if not len(queue):
                self._busy = False
                await queue.wait()
                continue
            self._busy = True
            event = queue.pop()
            await self._deliver(event)
            if event.type == "end_of_stream":
                return
            del event  # an idle session must not keep its last event (a session dict) alive

    async def _deliver(self, event: RealtimeModelEvent) -> None:
        for listener in self._listeners:
            try:
                await listener.on_event(event)
            except Exception as exc:  # a listener's bug must not stop the others
                await self._report(listener, exc, event)

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


def _is_final(event: RealtimeModelEvent) -> bool:
    """`disconnected` or `end_of_stream`: the events that end a stream."""
    if type(event) is RealtimeModelConnectionStatusEvent:
        return event.status == "disconnected"
    return type(event) is RealtimeModelEndOfStreamEvent
