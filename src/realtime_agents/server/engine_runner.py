"""Runs blocking engine calls off the event loop: one call in a worker thread, or a stream.

Engines are synchronous (see `engines.base`). `EngineRunner.in_thread` runs one call in the
server's shared executor; `EngineRunner.stream` runs a blocking iterator (LLM tokens, TTS
audio) in a worker thread and yields its items on the loop through a bounded channel that
wakes the loop once per batch. The pipeline, the response generation and the speculative
runs of a session share one runner.

Voice activity detection has its own lane (`EngineRunner.in_vad_lane`): a thread that runs
nothing else, shared by every session of the process. In the shared executor a VAD call
queued behind model work (a stream holds its worker thread for a whole reply, a speculative
one even while it is paused): with every worker busy, no turn end was seen until one freed
(`tests/server/test_vad_lane.py`). A VAD call is short (~0.15 ms per 32 ms frame for
Silero), so one thread serves many sessions.

The transcriptions that decide a `semantic_vad` turn (the speculative transcript at a pause and
the turn decision's own) have a lane of their own for the same reason (`in_turn_lane`): with
every engine worker holding a reply, ten speaking sessions saw their turn ends wait behind
model work. Two threads, as the embedded whisper keeps two replicas.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()
CHANNEL_SLOTS = 32
"""Items a producer thread may queue ahead of the consumer before it waits."""


VAD_LANE_THREADS = 1
"""Threads of the process-wide VAD lane (a VAD call takes well under a millisecond)."""
TURN_LANE_THREADS = 2
"""Threads of the process-wide turn lane (transcriptions of a few seconds of speech)."""
_lanes: dict[str, ThreadPoolExecutor] = {}
_lanes_lock = threading.Lock()


def _shared_lane(name: str, threads: int) -> ThreadPoolExecutor:
    """The process's lane `name` of `threads` threads (created on first use, shared by every
    session and server of the process, never shut down)."""
    with _lanes_lock:
        lane = _lanes.get(name)
        if lane is None:
            lane = _lanes[name] = ThreadPoolExecutor(
                max_workers=threads, thread_name_prefix=f"realtime-{name}"
            )
        return lane


def shared_vad_lane() -> ThreadPoolExecutor:
    """The process's VAD lane: `VAD_LANE_THREADS` threads that run only VAD calls."""
    return _shared_lane("vad", VAD_LANE_THREADS)


def shared_turn_lane() -> ThreadPoolExecutor:
    """The process's turn lane: `TURN_LANE_THREADS` threads that run only the transcriptions a
    turn decision waits for."""
    return _shared_lane("turn", TURN_LANE_THREADS)


class EngineRunner:
    """Runs engine calls in `executor`'s worker threads (None: the loop's default executor),
    VAD calls in `vad_executor` (None: the process's `shared_vad_lane`) and the transcriptions
    turn decisions wait for in `turn_executor` (None: the process's `shared_turn_lane`)."""

    def __init__(
        self,
        executor: Executor | None = None,
        vad_executor: Executor | None = None,
        turn_executor: Executor | None = None,
    ) -> None:
        self.executor = executor
        self.vad_executor = vad_executor
        self.turn_executor = turn_executor

    async def in_thread(self, function: Callable[[], T]) -> T:
        """The result of `function()`, called in a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function)

    async def in_vad_lane(self, function: Callable[[], T]) -> T:
        """The result of `function()`, called in the VAD lane: never queued behind model work,
        however busy the engine executor is. Give it only short calls."""
        lane = self.vad_executor or shared_vad_lane()
        return await asyncio.get_running_loop().run_in_executor(lane, function)

    async def in_turn_lane(self, function: Callable[[], T]) -> T:
        """The result of `function()`, called in the turn lane: a transcription a turn decision
        waits for, never queued behind replies holding the engine executor's threads."""
        lane = self.turn_executor or shared_turn_lane()
        return await asyncio.get_running_loop().run_in_executor(lane, function)

    async def stream(
        self,
        make_iterator: Callable[[], Iterator[Any]],
        cancel: threading.Event,
        *,
        inline: bool = False,
        gate: threading.Event | None = None,
    ) -> AsyncIterator[Any]:
        """Run a blocking iterator in a worker thread, yielding its items on the loop.

        `inline` iterates on the loop instead (engines that never block, such as scripted
        ones without delays). From a thread, items cross in batches: the producer wakes the
        loop only when the consumer has taken everything queued before. While `gate` is
        cleared, the producer asks the iterator for nothing more (it pauses between items).
        """
        if inline:
            for item in make_iterator():
                if cancel.is_set():
                    return
                yield item
            return
        loop = asyncio.get_running_loop()
        channel = _Channel(loop, cancel)
        loop.run_in_executor(self.executor, channel.produce, make_iterator, gate)
        try:
            while True:
                for item in await channel.take():
                    if item is _DONE:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item
        except BaseException:
            cancel.set()  # leaving early: stop the producer thread
            raise


class _Channel:
    """A bounded thread -> loop queue that wakes the loop once per batch, not per item."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cancel: threading.Event) -> None:
        self.loop = loop
        self.cancel = cancel
        self.slots = threading.Semaphore(CHANNEL_SLOTS)  # the producer waits for the consumer
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.waiter: asyncio.Future[None] | None = None
        self.wake_pending = False

    def produce(
        self, make_iterator: Callable[[], Iterator[Any]], gate: threading.Event | None = None
    ) -> None:
        """The worker thread: put every item, then `_DONE` (or the error).

        Before each item it waits for `gate` (if given) to be set.
        """
        try:
            iterator = iter(make_iterator())
            while True:
                if gate is not None:
                    while not gate.wait(0.05):
                        if self.cancel.is_set():
                            return
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                if self.cancel.is_set() or not self.put(item):
                    return
            self.put(_DONE)
        except BaseException as error:  # handed to the consumer
            self.put(error)

    def put(self, item: Any) -> bool:
        while not self.slots.acquire(timeout=0.05):
            if self.cancel.is_set():
                return False
        with self.lock:
            self.items.append(item)
            if self.wake_pending:
                return True
            self.wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def take(self) -> list[Any]:
        """Wait for and take every queued item."""
        while True:
            with self.lock:
                items, self.items = self.items, []
                if items:
                    self.wake_pending = False
            if items:
                self.slots.release(len(items))
                return items
            self.waiter = self.loop.create_future()
            with self.lock:
                ready = bool(self.items)
            if not ready:
                await self.waiter
            self.waiter = None
