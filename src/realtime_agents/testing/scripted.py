"""`ScriptedRealtimeModel`: an in-memory `RealtimeModel` that follows a script, for app tests.

Each `send_event` must match the next `RealtimeStep`; one delivery task hands the step's events to
the listeners in order, so a listener may itself call `send_event` (that call does not wait)."""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, get_args

import msgspec

from ..errors import RealtimeAgentsError
from ..events import (
    RealtimeModelConnectionStatusEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
)
from ..inputs import RealtimeModelSendEvent
from ..model import RealtimeModel, RealtimeModelConfig, RealtimeModelListener, resolve_api_key
from ..redaction import redact_url

logger = logging.getLogger(__name__)

RealtimeSendMatcher: TypeAlias = (
    RealtimeModelSendEvent | type[RealtimeModelSendEvent] | Callable[[RealtimeModelSendEvent], bool]
)
"""An exact send event (compared with ==), a send-event class (isinstance), or a predicate."""

_SEND_EVENT_CLASSES: tuple[type, ...] = get_args(RealtimeModelSendEvent)
_MODEL_EVENT_CLASSES: tuple[type, ...] = get_args(RealtimeModelEvent)


class RealtimeScriptError(RealtimeAgentsError, AssertionError):
    """The code under test did not follow the script, or used the model in a way it cannot."""


class UnexpectedRealtimeSend(RealtimeScriptError):
    """`send_event` got an event that does not match the next scripted step."""

    def __init__(
        self, actual: RealtimeModelSendEvent, expected: RealtimeSendMatcher | None, index: int = 0
    ) -> None:
        wanted = describe_matcher(expected) if expected is not None else "no more sends"
        super().__init__(f"send #{index + 1} was {_describe(actual)}; the script expected {wanted}")
        self.actual = actual
        self.expected = expected
        self.index = index


class UnconsumedRealtimeSteps(RealtimeScriptError):
    """`assert_complete` found scripted steps that no send consumed."""

    def __init__(self, steps: Sequence[RealtimeStep]) -> None:
        lines = [f"  {n}. expected {describe_matcher(s.expect)}" for n, s in enumerate(steps, 1)]
        super().__init__(f"{len(steps)} scripted step(s) were never sent:\n" + "\n".join(lines))
        self.steps = tuple(steps)


@dataclass(frozen=True)
class RealtimeStep:
    """One expected send and what follows it: events to emit, or an error to raise.

    `delay_s` simulates the model's latency before the events arrive (see the `sleep` argument
    of `ScriptedRealtimeModel` to keep tests off the wall clock).
    """

    expect: RealtimeSendMatcher
    emit: Sequence[RealtimeModelEvent] = ()
    error: Exception | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        expect = self.expect
        if not (
            issubclass(expect, _SEND_EVENT_CLASSES)
            if isinstance(expect, type)
            else isinstance(expect, _SEND_EVENT_CLASSES) or callable(expect)
        ):
            raise TypeError(f"expect must be a send event, its class or a predicate: {expect!r}")
        emit = tuple(self.emit)
        _check_model_events(emit)
        if emit and self.error is not None:
            raise ValueError("a RealtimeStep raises an error or emits events, not both")
        if not math.isfinite(self.delay_s) or self.delay_s < 0:
            raise ValueError(f"delay_s must be a finite number >= 0, got {self.delay_s!r}")
        object.__setattr__(self, "emit", emit)


@dataclass(frozen=True)
class ScriptedConnectCall:
    """What `connect` was given, without credentials: the key and header values are never kept."""

    api_key_provided: bool
    headers_provided: bool
    url: str | None = None
    """The URL with secret query values (key, api_key, token, ...) and any password redacted."""
    initial_model_settings: Mapping[str, Any] | None = None
    call_id: str | None = None
    playback_tracker_provided: bool = False
    reconnect_provided: bool = False


_Entry: TypeAlias = RealtimeModelEvent | float | asyncio.Future[None]
"""What the delivery task works through: an event, a pause in seconds, or a waiter's barrier."""


class ScriptedRealtimeModel(RealtimeModel):
    """A `RealtimeModel` that checks each send against a script and answers with scripted events.

    With `strict=False` a send that does not match is recorded in `unexpected_sends` instead of
    raising, and the step stays in place for a later send.
    """

    def __init__(
        self,
        steps: Iterable[RealtimeStep] = (),
        *,
        connect_events: Iterable[RealtimeModelEvent] = (),
        connect_error: Exception | None = None,
        strict: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._steps: deque[RealtimeStep] = deque(steps)
        self._connect_events = tuple(connect_events)
        _check_model_events(self._connect_events)
        if self._connect_events and connect_error is not None:
            raise ValueError("give connect_events or connect_error, not both")
        self._connect_error = connect_error
        self._strict = strict
        self._sleep = sleep
        self._connected = False
        self._started = False  # connect succeeded once; a model serves one connection
        self._closed = False
        self._reconnect_provided = False
        self._listeners: list[RealtimeModelListener] = []
        self._pending: deque[_Entry] = deque()
        self._delivery_task: asyncio.Task[None] | None = None
        self._connect_calls: list[ScriptedConnectCall] = []
        self._sent: list[RealtimeModelSendEvent] = []
        self._unexpected: list[UnexpectedRealtimeSend] = []
        self._listener_errors: list[Exception] = []

    # -- what the test inspects

    @property
    def connect_calls(self) -> tuple[ScriptedConnectCall, ...]:
        """Every `connect` call, as credential-free snapshots."""
        return tuple(self._connect_calls)

    @property
    def sent_events(self) -> tuple[RealtimeModelSendEvent, ...]:
        """Every event passed to `send_event` (copies taken at send time), matched or not."""
        return tuple(self._sent)

    @property
    def remaining_steps(self) -> tuple[RealtimeStep, ...]:
        """The steps not consumed yet, next one first."""
        return tuple(self._steps)

    @property
    def unexpected_sends(self) -> tuple[UnexpectedRealtimeSend, ...]:
        """Sends that did not match their step (raised when strict, only recorded otherwise)."""
        return tuple(self._unexpected)

    @property
    def listener_errors(self) -> tuple[Exception, ...]:
        """Exceptions raised by listeners' `on_event` (reported to the other listeners)."""
        return tuple(self._listener_errors)

    @property
    def closed(self) -> bool:
        """`close()` was called."""
        return self._closed

    def assert_complete(self) -> None:
        """Raise the first strict mismatch (even one the code caught), else any unsent steps."""
        if self._strict and self._unexpected:
            raise self._unexpected[0]
        if self._steps:
            raise UnconsumedRealtimeSteps(tuple(self._steps))

    # -- the RealtimeModel interface

    async def connect(self, options: RealtimeModelConfig) -> None:
        """Record a credential-free snapshot, then raise `connect_error` or emit connect_events."""
        if self._started or self._closed:
            raise RealtimeScriptError("connect() on a model that was connected or closed before")
        # Resolved like a real provider would (so a bad key function fails here), then dropped.
        api_key = await resolve_api_key(options.get("api_key"))
        self._connect_calls.append(_snapshot_connect_call(options, api_key is not None))
        del api_key
        if self._connect_error is not None:
            raise self._connect_error
        self._connected = self._started = True
        self._reconnect_provided = "reconnect" in options
        await self._deliver_and_wait(self._connect_events)

    def add_listener(self, listener: RealtimeModelListener) -> None:
        """Add a listener; adding one twice has no effect."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: RealtimeModelListener) -> None:
        """Remove a listener; removing an unknown one has no effect."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def send_event(self, event: RealtimeModelSendEvent) -> None:
        """Match `event` against the next step; return once the step's events were delivered."""
        if not self._connected:
            raise RealtimeScriptError(f"send_event({_describe(event)}) while not connected")
        index = len(self._sent)
        snapshot = copy.deepcopy(event)
        self._sent.append(snapshot)
        step = self._steps[0] if self._steps else None
        if step is None or not _matches(step.expect, snapshot):
            mismatch = UnexpectedRealtimeSend(snapshot, step.expect if step else None, index)
            self._unexpected.append(mismatch)
            if self._strict:
                raise mismatch
            return
        self._steps.popleft()
        entries: list[_Entry] = [float(step.delay_s)] if step.delay_s else []
        await self._deliver_and_wait([*entries, *step.emit])
        if step.error is not None:
            raise step.error

    async def close(self) -> None:
        """Emit `connection_status disconnected`, then `end_of_stream`; idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._connected:
            return
        self._connected = False
        await self._end([RealtimeModelConnectionStatusEvent(status="disconnected")], None)

    # -- driving the model from a test

    async def emit(self, *events: RealtimeModelEvent) -> None:
        """Push unsolicited events (e.g. server VAD or a tool call) to the listeners, in order."""
        _check_model_events(events)
        if not self._connected:
            raise RealtimeScriptError("emit() needs a connected model (call connect first)")
        await self._deliver_and_wait(events)

    async def disconnect(self, reason: str = "connection lost", *, recovered: bool = False) -> None:
        """Simulate an unexpected drop.

        With `recovered=True` (needs a `reconnect` policy in the config) the model emits
        `reconnecting` then `connected` and the session goes on. Otherwise it emits `reconnecting`
        (only if a policy was given), `disconnected` and `end_of_stream`; later sends raise.
        """
        if not self._connected:
            raise RealtimeScriptError("disconnect() needs a connected model")
        status = RealtimeModelConnectionStatusEvent
        reconnecting = [status(status="reconnecting", reason=reason, attempt=1)]
        if recovered:
            if not self._reconnect_provided:
                raise RealtimeScriptError(
                    "disconnect(recovered=True) needs connect() to be given a 'reconnect' policy"
                )
            await self._deliver_and_wait([*reconnecting, status(status="connected", attempt=1)])
            return
        self._connected = False
        lead = reconnecting if self._reconnect_provided else []
        await self._end([*lead, status(status="disconnected", reason=reason)], reason)

    # -- delivery

    async def _end(self, events: list[RealtimeModelEvent], reason: str | None) -> None:
        await self._deliver_and_wait([*events, RealtimeModelEndOfStreamEvent(reason=reason)])

    async def _deliver_and_wait(self, entries: Iterable[_Entry]) -> None:
        """Queue entries for the delivery task and wait for them, unless called from inside it."""
        if self._delivery_task is not None and asyncio.current_task() is self._delivery_task:
            # Re-entrant (a listener is sending): waiting would deadlock. Queue the entries before
            # the next barrier, so whoever waits for the current events also waits for these.
            pending = self._pending
            at = next((i for i, e in enumerate(pending) if isinstance(e, asyncio.Future)), None)
            for offset, entry in enumerate(entries):
                pending.insert(len(pending) if at is None else at + offset, entry)
            return
        self._pending.extend(entries)
        barrier: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(barrier)
        if self._delivery_task is None:
            self._delivery_task = asyncio.create_task(self._deliver_pending())
        await barrier

    async def _deliver_pending(self) -> None:
        try:
            while self._pending:
                entry = self._pending.popleft()
                if isinstance(entry, asyncio.Future):
                    if not entry.done():
                        entry.set_result(None)
                elif isinstance(entry, float):
                    await self._sleep(entry)
                else:
                    await self._deliver(entry)
        except Exception as exc:  # only an injected sleep can fail: its senders get the error
            for entry in self._pending:
                if isinstance(entry, asyncio.Future) and not entry.done():
                    entry.set_exception(exc)
            self._pending.clear()
        finally:
            self._delivery_task = None

    async def _deliver(self, event: RealtimeModelEvent) -> None:
        listeners = tuple(self._listeners)
        failures: list[tuple[RealtimeModelListener, Exception]] = []
        for listener in listeners:
            try:
                await listener.on_event(event)
            except Exception as error:
                failures.append((listener, error))
        for failed, raised in failures:
            self._record_listener_error(failed, raised, event)
            report = RealtimeModelExceptionEvent(
                exception=raised,
                context=f"{type(failed).__name__}.on_event raised on a {event.type!r} event",
            )
            for other in listeners:
                if other is not failed:
                    try:
                        await other.on_event(report)
                    except Exception as nested:
                        self._record_listener_error(other, nested, report)

    def _record_listener_error(self, listener: object, exc: Exception, event: object) -> None:
        self._listener_errors.append(exc)
        name = type(listener).__name__
        logger.warning("%s.on_event raised on %s", name, _describe(event), exc_info=exc)


def describe_matcher(matcher: RealtimeSendMatcher) -> str:
    """A readable description of what a step expects."""
    if isinstance(matcher, type):
        return f"an instance of {matcher.__name__}"
    if callable(matcher):
        return f"an event accepted by {getattr(matcher, '__qualname__', repr(matcher))}"
    return _describe(matcher)


def _matches(matcher: RealtimeSendMatcher, event: RealtimeModelSendEvent) -> bool:
    if isinstance(matcher, type):
        return isinstance(event, matcher)
    if callable(matcher):
        return bool(matcher(event))
    return bool(event == matcher)


def _check_model_events(events: Iterable[object]) -> None:
    for event in events:
        if not isinstance(event, _MODEL_EVENT_CLASSES):
            raise TypeError(f"{event!r} is not a RealtimeModelEvent (e.g. RealtimeModelAudioEvent)")


def _describe(value: object, limit: int = 240) -> str:
    """Like repr, but bytes show as their length and long text is cut."""
    if isinstance(value, msgspec.Struct):
        parts = (f"{name}={_describe(getattr(value, name))}" for name in value.__struct_fields__)
        text = f"{type(value).__name__}({', '.join(parts)})"
    elif isinstance(value, bytes | bytearray):
        text = f"<{len(value)} bytes>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _snapshot_connect_call(
    options: RealtimeModelConfig, api_key_provided: bool
) -> ScriptedConnectCall:
    url = options.get("url")
    settings = options.get("initial_model_settings")
    return ScriptedConnectCall(
        api_key_provided=api_key_provided,
        headers_provided="headers" in options,
        url=redact_url(url) if url is not None else None,
        initial_model_settings=copy.deepcopy(dict(settings)) if settings is not None else None,
        call_id=options.get("call_id"),
        playback_tracker_provided="playback_tracker" in options,
        reconnect_provided="reconnect" in options,
    )
