"""`OpenAIRealtimeWebSocketModel`: the OpenAI Realtime API over `websockets`, a thin I/O shell.

The protocol logic lives in `OpenAIRealtimeProtocol` (sans-I/O). This module opens sockets,
reads frames into it, writes the frames it queues, delivers its events through a bounded
dispatcher, and reconnects when the config asks for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..._wsdirect import DirectClientConnection as DirectConnection
from ..._wsdirect import transport_of
from ...errors import RealtimeAgentsError
from ...events import (
    RealtimeErrorInfo,
    RealtimeModelAudioEvent,
    RealtimeModelConnectionStatusEvent,
    RealtimeModelEndOfStreamEvent,
    RealtimeModelErrorEvent,
    RealtimeModelEvent,
    RealtimeModelExceptionEvent,
)
from ...inputs import RealtimeModelSendEvent
from ...model import (
    DEFAULT_RECONNECT_POLICY,
    MissingApiKeyError,
    RealtimeModel,
    RealtimeModelConfig,
    RealtimeModelListener,
    ReconnectPolicy,
    resolve_api_key,
)
from .dispatch import DEFAULT_EVENT_QUEUE_SIZE, Dispatcher
from .frames import utf8_problem
from .inflight import DEFAULT_MAX_IN_FLIGHT_BYTES
from .options import (
    OWN_CLOSE_MEANINGS,
    RECOVERABLE_CLOSE_CODES,
    RECOVERABLE_OWN_CLOSE_CODES,
    TRANSPORT_DEFAULTS,
    TransportOptions,
    backoff_delay,
    build_url,
)
from .protocol import AudioSkip, OpenAIRealtimeProtocol
from .redact import RedactingLogger, redact_text, redact_url
from .replay import DEFAULT_MAX_HISTORY_ITEMS, DEFAULT_MAX_UNSENT_AUDIO_BYTES

logger = logging.getLogger("realtime_agents.providers.openai")


class RealtimeConnectionError(RealtimeAgentsError, ConnectionError):
    """The connection could not be opened or was lost; the message says why (never the key)."""


_State = Literal["new", "connecting", "open", "reconnecting", "closed"]


class OpenAIRealtimeWebSocketModel(RealtimeModel):
    """The OpenAI Realtime API (GA) over a WebSocket; also Azure and compatible servers.

    Example:
        model = OpenAIRealtimeWebSocketModel()
        model.add_listener(my_listener)
        await model.connect({"initial_model_settings": {"instructions": "Be brief."}})
        await model.send_event(RealtimeModelSendUserInput("Hello"))
    """

    def __init__(
        self,
        transport: TransportOptions | None = None,
        *,
        emit_raw_events: bool = False,
        event_queue_size: int = DEFAULT_EVENT_QUEUE_SIZE,
        max_history_items: int = DEFAULT_MAX_HISTORY_ITEMS,
        max_unsent_audio_bytes: int = DEFAULT_MAX_UNSENT_AUDIO_BYTES,
        max_in_flight_bytes: int = DEFAULT_MAX_IN_FLIGHT_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = set(transport or {}) - set(TRANSPORT_DEFAULTS)
        if unknown:
            raise ValueError(
                f"unknown transport options {sorted(unknown)}; use {sorted(TRANSPORT_DEFAULTS)}"
            )
        self._transport: dict[str, Any] = {**TRANSPORT_DEFAULTS, **(transport or {})}
        self._emit_raw_events = emit_raw_events
        self._max_history_items = max_history_items
        self._max_unsent_audio_bytes = max_unsent_audio_bytes
        self._max_in_flight_bytes = max_in_flight_bytes
        self._clock = clock
        self._dispatcher = Dispatcher(event_queue_size)
        self._dispatcher.queue.on_room = self._on_room
        self._protocol = OpenAIRealtimeProtocol()
        self._options: RealtimeModelConfig = {}
        self._url = ""
        self._policy: ReconnectPolicy | None = None
        self._state: _State = "new"
        self._ws: DirectConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        # Made only while someone waits: an idle session should not carry two Events.
        self._ready: asyncio.Future[None] | None = None
        self._closed: asyncio.Event | None = None
        self._closing = False
        self._close_done = False
        self._finished = False
        self._announced = False
        self._failed_attempts = 0
        self._end_reason: str | None = None
        self._ws_logger = RedactingLogger(logging.getLogger("realtime_agents.providers.openai.ws"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact_url(self._url)!r}, state={self._state!r})"

    @property
    def protocol(self) -> OpenAIRealtimeProtocol:
        """The sans-I/O state (history, turn state); read it, do not drive it."""
        return self._protocol

    @property
    def event_queue(self) -> Any:
        """The bounded queue between the socket reader and the listeners."""
        return self._dispatcher.queue

    # ------------------------------------------------------------------ RealtimeModel

    def add_listener(self, listener: RealtimeModelListener) -> None:
        self._dispatcher.add_listener(listener)

    def remove_listener(self, listener: RealtimeModelListener) -> None:
        self._dispatcher.remove_listener(listener)

    async def connect(self, options: RealtimeModelConfig) -> None:
        """Open the socket and wait for the session; raises `RealtimeConnectionError` if not."""
        if self._state != "new":
            raise RuntimeError("connect() was already called on this model; create a new one")
        self._options = options
        self._url = build_url(options)
        self._policy = options.get("reconnect")
        self._protocol = OpenAIRealtimeProtocol(
            options.get("initial_model_settings"),
            playback_tracker=options.get("playback_tracker"),
            max_history_items=self._max_history_items,
            max_unsent_audio_bytes=self._max_unsent_audio_bytes,
            max_in_flight_bytes=self._max_in_flight_bytes,
            emit_raw_events=self._emit_raw_events,
        )
        headers = await self._headers()  # a missing key raises before anything starts
        self._state = "connecting"
        self._dispatcher.start()
        await self._emit(RealtimeModelConnectionStatusEvent(status="connecting"))
        try:
            ws = await self._open(headers)
        except Exception as exc:
            reason = f"could not connect to {redact_url(self._url)}: {self._describe(exc)}"
            await self._emit(_error_event(reason, "connect_failed"))
            self._finish(reason)
            raise RealtimeConnectionError(reason) from None
        self._ws = ws
        self._reader = asyncio.get_running_loop().create_task(
            self._run(ws), name="realtime-agents-openai-reader"
        )
        ready = self._ready = asyncio.get_running_loop().create_future()
        if self._announced or self._finished:
            ready.set_result(None)
        await asyncio.wait(
            {ready, self._reader},
            timeout=self._transport["open_timeout"],
            return_when=asyncio.FIRST_COMPLETED,
        )
        ready.cancel()
        self._ready = None
        if self._announced:
            return
        if self._finished:
            raise RealtimeConnectionError(self._end_reason or "the connection closed at once")
        await self.close()
        raise RealtimeConnectionError("the server sent no session.created in time")

    async def send_event(self, event: RealtimeModelSendEvent) -> None:
        """Encode and send; during a reconnect, frames wait and user audio is recorded."""
        if self._state == "new":
            raise RuntimeError("call connect() before send_event()")
        if self._finished or self._closing:
            raise RealtimeConnectionError(f"the connection is closed ({self._end_reason})")
        events = self._protocol.send(event, self._clock())
        await self._flush()
        for extra in events:
            await self._emit(extra)

    async def close(self) -> None:
        """Close the connection; idempotent, and safe from any task, a listener's included.

        Returns within the transport's `close_timeout`. Listeners still get `disconnected`
        and `end_of_stream`; if they have not taken every queued event by then, the rest are
        dropped and the `disconnected` reason says how many.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self._transport["close_timeout"])
        current = asyncio.current_task()
        in_listener = self._dispatcher.in_listener()
        if self._closing:
            if not in_listener and current is not self._reader and not self._close_done:
                if self._closed is None:
                    self._closed = asyncio.Event()
                await self._closed.wait()
            return
        self._closing = True
        if self._ws is not None:
            # Drop what was not delivered and keep reading: unread frames would otherwise stop
            # `websockets` from seeing the server's close frame (close() would time out).
            self._ws.discard()
        for task in (self._reader, self._flusher):
            if task is not None and task is not current and not task.done():
                task.cancel()
                await asyncio.wait({task})
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.discard()  # a reconnect may have opened it meanwhile
            try:
                # (websockets bounds the wait for the server's close, not a blocked write)
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await ws.close()
            except TimeoutError:
                transport_of(ws).abort()
            except Exception:  # closing: the connection is gone either way
                pass
        self._finish("closed by the client")
        dispatcher = self._dispatcher.task
        # (Checked again: a listener that started this close eagerly, in the socket callback,
        # is now finished by the dispatcher's task, which must not wait for itself.)
        if dispatcher is not None and not dispatcher.done() and not self._dispatcher.in_listener():
            await asyncio.wait({dispatcher}, timeout=max(0.0, deadline - loop.time()))
            if not dispatcher.done():
                end_reason = self._end_reason
                self._end_reason = (
                    self._dispatcher.cut_short(
                        lambda dropped: (
                            f"{end_reason}; {dropped} events were not delivered: the "
                            "listeners were still busy when close_timeout ran out"
                        )
                    )
                    or end_reason
                )
        self._close_done = True
        if self._closed is not None:
            self._closed.set()

    # ------------------------------------------------------------------ connection

    async def _headers(self) -> dict[str, str]:
        given = self._options.get("headers")
        key = await resolve_api_key(self._options.get("api_key"), "OPENAI_API_KEY")
        if given is not None:
            headers = dict(given)
        elif not key:
            raise MissingApiKeyError(
                "No OpenAI API key: pass api_key in the model config or set the OPENAI_API_KEY "
                "environment variable (or pass headers, e.g. Azure's api-key header)."
            )
        else:
            headers = {"Authorization": f"Bearer {key}"}
        self._ws_logger.secrets = tuple(v for v in (key, *headers.values()) if v)
        return headers

    async def _open(self, headers: dict[str, str]) -> DirectConnection:
        t = self._transport
        logger.debug("connecting to %s", redact_url(self._url))
        ws = await connect(
            self._url,
            additional_headers=headers,
            user_agent_header=t["user_agent"],
            open_timeout=t["open_timeout"],
            ping_interval=t["ping_interval"],
            ping_timeout=t["ping_timeout"],
            close_timeout=t["close_timeout"],
            max_size=t["max_size"],
            max_queue=t["max_queue"],
            compression="deflate" if t["compression"] else None,
            proxy=t["proxy"],
            logger=self._ws_logger,
            create_connection=DirectConnection,
        )
        assert isinstance(ws, DirectConnection)
        ws.stall_timeout = t["write_timeout"]
        return ws

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return redact_text(text.replace(self._url, redact_url(self._url)), self._ws_logger.secrets)

    async def _run(self, ws: DirectConnection) -> None:
        """Read frames until the stream ends, reconnecting when allowed."""
        reason: str | None = None
        try:
            while True:
                code, close_reason, own = await self._read(ws)
                if self._closing:
                    return
                described = self._describe_close(code, close_reason)
                if own and code in OWN_CLOSE_MEANINGS:
                    described = f"{OWN_CLOSE_MEANINGS[code]}, this client closed with {described}"
                recoverable = (
                    code in RECOVERABLE_CLOSE_CODES
                    or (own and code in RECOVERABLE_OWN_CLOSE_CODES)
                    or self._protocol.session_expired
                )
                if recoverable and self._policy is not None:
                    new_ws = await self._reconnect(described)
                    if new_ws is None:
                        reason = f"could not reconnect after {described}"
                        break
                    ws = new_ws
                    continue
                reason = described
                if code != 1000 or self._protocol.session_expired:
                    hint = " (reconnect is off)" if recoverable else ""
                    await self._emit(
                        _error_event(
                            f"the connection closed: {described}{hint}", "connection_closed"
                        )
                    )
                break
        except Exception as exc:
            if self._closing:
                return
            reason = f"internal error: {self._describe(exc)}"
            logger.error("realtime connection task failed: %s", reason)
            await self._emit(RealtimeModelExceptionEvent(exception=exc, context="connection task"))
        finally:
            if not self._closing:
                self._finish(reason)

    async def _read(self, ws: DirectConnection) -> tuple[int, str, bool]:
        """Messages go from the socket callback to `_on_message`; wait for the socket to end."""
        ws.attach(self._dispatcher.queue.has_room, self._on_message)
        await ws.wait_closed()
        await ws.wait_released()  # messages held back by a full queue come before the close
        own = ws.own_close()
        if own is not None:
            # This side failed the connection (a message over max_size is 1009, a protocol
            # error 1002, a keepalive timeout 1011): that is the code that explains the close.
            return (*own, True)
        code = ws.close_code if ws.close_code is not None else 1006
        return code, ws.close_reason or "", False

    def _on_message(self, frame: bytes, is_text: bool) -> None:
        """One server message (text or binary, both JSON), straight from the socket callback."""
        protocol = self._protocol
        push = self._dispatcher.deliver
        try:
            audio = protocol.receive_audio(frame, self._clock())
            if type(audio) is RealtimeModelAudioEvent:
                push(audio)
                return
            if audio is AudioSkip.DROPPED:
                return
            if is_text:
                problem = utf8_problem(frame)
                if problem is not None:
                    self._fail_connection(1007, problem)
                    return
            events = protocol.receive_other(frame, self._clock())
        except Exception as exc:  # a bug here must not end the session
            logger.error("could not handle a server frame: %s", type(exc).__name__)
            events = [RealtimeModelExceptionEvent(exception=exc, context="server frame")]
        for event in events:
            push(event)
        if protocol.session_ready:
            if protocol.outbox and self._flusher is None:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_later())
            if not self._announced:
                self._announced = True
                self._failed_attempts = 0
                self._state = "open"
                push(RealtimeModelConnectionStatusEvent(status="connected"))
                self._set_ready()

    def _fail_connection(self, code: int, reason: str) -> None:
        """Fail the connection with `code` (RFC 6455); `_run` reports it, or reconnects."""
        ws = self._ws
        if ws is not None:
            logger.warning("failing the connection with code %d: %s", code, reason)
            ws.fail(code, reason)

    def _on_room(self) -> None:
        if self._ws is not None:
            self._ws.release()

    async def _flush_later(self) -> None:
        try:
            await self._flush()
        except Exception as exc:  # pragma: no cover - _flush handles a closed socket itself
            logger.error("could not send queued frames: %s", self._describe(exc))
        finally:
            self._flusher = None

    def _describe_close(self, code: int, close_reason: str) -> str:
        text = f"code {code}" + (f" ({close_reason})" if close_reason else "")
        last = self._protocol.last_error
        if last is not None and code not in (1000,) and last.message:
            text += f": {last.message}"
        return redact_text(text, self._ws_logger.secrets)

    async def _reconnect(self, why: str) -> DirectConnection | None:
        policy: ReconnectPolicy = {**DEFAULT_RECONNECT_POLICY, **(self._policy or {})}
        self._ws = None
        self._state = "reconnecting"
        self._announced = False
        for event in self._protocol.on_connection_lost():
            await self._emit(event)
        max_attempts = policy.get("max_attempts", 5)
        while self._failed_attempts < max_attempts:
            self._failed_attempts += 1
            attempt = self._failed_attempts
            await self._emit(
                RealtimeModelConnectionStatusEvent(
                    status="reconnecting", reason=why, attempt=attempt
                )
            )
            await asyncio.sleep(backoff_delay(policy, attempt))
            try:
                ws = await self._open(await self._headers())
            except Exception as exc:
                why = self._describe(exc)
                logger.info("reconnect attempt %d failed: %s", attempt, why)
                continue
            self._ws = ws
            self._state = "connecting"
            return ws
        await self._emit(
            _error_event(
                f"gave up after {max_attempts} reconnect attempts: {why}", "reconnect_failed"
            )
        )
        return None

    async def _flush(self) -> None:
        """Write queued frames in order; a lost connection leaves them for the reconnect."""
        protocol = self._protocol
        if not protocol.outbox or not protocol.session_ready:
            return
        async with self._write_lock:
            ws = self._ws
            outbox = protocol.outbox
            while (
                ws is not None and outbox and protocol.session_ready and outbox is protocol.outbox
            ):
                batch = [frame for _, frame in outbox]  # usually one; a reconnect's replay
                try:
                    await ws.send_texts(batch)
                except ConnectionClosed:
                    return
                del outbox[: len(batch)]

    # ------------------------------------------------------------------ events

    async def _emit(self, event: RealtimeModelEvent) -> None:
        if self._dispatcher.in_listener():
            self._dispatcher.queue.put_final(event)  # a listener must never wait on itself
        else:
            await self._dispatcher.queue.put(event)

    def _finish(self, reason: str | None) -> None:
        """End the stream: `disconnected`, then `end_of_stream`, exactly once."""
        if self._finished:
            return
        self._finished = True
        self._state = "closed"
        self._end_reason = reason
        self._protocol.session_ready = False
        queue = self._dispatcher.queue
        queue.put_final(RealtimeModelConnectionStatusEvent(status="disconnected", reason=reason))
        queue.put_final(RealtimeModelEndOfStreamEvent(reason=reason))
        self._set_ready()

    def _set_ready(self) -> None:
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)


def _error_event(message: str, code: str) -> RealtimeModelErrorEvent:
    return RealtimeModelErrorEvent(
        error=RealtimeErrorInfo(message=message, type="connection_error", code=code)
    )
