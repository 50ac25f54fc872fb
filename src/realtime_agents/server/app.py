"""The WebSocket shell of the local realtime server: `/v1/realtime`, auth, limits, sockets.

Start it from code with `server = await serve("127.0.0.1", 0, engines)`; `server.port` and
`server.url` give the bound address, `await server.close()` shuts it down gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .._wsdirect import DirectServerConnection
from .._wsdirect.request_bodies import BodyReadingConnection
from ..web.routes import WebRoutes
from .capacity import ResponseCapacity
from .client_reader import ClientReader
from .client_secrets import ClientSecretStore
from .conversation import DEFAULT_MAX_CONVERSATION_BYTES, DEFAULT_MAX_RETAINED_AUDIO_BYTES
from .effects import DEFAULT_MAX_OUT_OF_BAND_RESPONSES, ProtocolLimits
from .engines.base import EngineSet
from .errors import error_event
from .flow_guard import (
    DEFAULT_MAX_WRITE_BUFFER_BYTES,
    DEFAULT_WRITE_TIMEOUT,
    GuardedServerConnection,
    guarded_connection_class,
)
from .handshake import (
    malformed_upgrade_response,
    presented_token,
    query_parameters,
    token_matches,
)
from .log_redaction import websockets_logger
from .pipeline import SessionPipeline
from .protocol import Intent, SessionProtocol
from .usage import SessionUsage, session_usage

logger = logging.getLogger(__name__)
API_KEY_ENV = "REALTIME_AGENTS_API_KEY"
PATHS = ("/v1/realtime", "/realtime")
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Authentication and limits; every limit has an OpenAI-style error code."""

    api_key: str | None = None
    """Bearer token clients must present (None = no authentication, loopback only)."""
    max_frame_bytes: int = 16 * 1024 * 1024
    """Larger text frames get `message_too_large` (frames over twice this close with 1009)."""
    max_audio_buffer_ms: int = 15 * 60 * 1000
    """Uncommitted input audio limit: `input_audio_buffer_too_large`."""
    max_conversation_items: int = 2000
    """Items per conversation: `conversation_max_items_exceeded`."""
    max_retained_audio_bytes: int = DEFAULT_MAX_RETAINED_AUDIO_BYTES
    """User and assistant audio a session keeps for `conversation.item.retrieve` (4 MiB, about
    87 s of PCM16 at 24 kHz); the oldest items' audio is dropped first."""
    max_conversation_bytes: int = DEFAULT_MAX_CONVERSATION_BYTES
    """What a conversation's items may hold (32 MiB: their JSON plus 256 bytes per item and
    content part; audio is `max_retained_audio_bytes`): `conversation_max_bytes_exceeded`, and
    a response that needs another item then fails with it."""
    max_out_of_band_responses: int = DEFAULT_MAX_OUT_OF_BAND_RESPONSES
    """Out-of-band responses (`conversation: "none"`) a session may have in progress at once:
    `out_of_band_response_limit_reached`."""
    max_write_buffer_bytes: int = DEFAULT_MAX_WRITE_BUFFER_BYTES
    """Unsent bytes for one client beyond which the server stops reading from it (a client
    that pings and never reads cannot make pongs pile up)."""
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    """A client that takes no data for this long while data waits for it is disconnected."""
    max_sessions: int = 256
    """Concurrent sessions per process: `session_limit_reached`, close 1013."""
    max_concurrent_responses: int | None = None
    """Responses in progress at once across a process's sessions (None: no limit). Past it a
    turn is refused and told so (`server_at_capacity`) instead of queueing behind the others:
    set it to what the engines answer at an acceptable latency (see `capacity.py`)."""
    max_session_seconds: float = 3600.0
    """Session lifetime: `session_expired`, close 1001."""
    ping_interval: float | None = 20.0
    worker_threads: int = 8
    """Threads shared by all sessions for engine calls."""
    tick_seconds: float = 0.1
    """How often the idle timeout and the session expiry are checked."""
    event_hook: Callable[[dict[str, Any]], None] | None = None
    """Called with every server event just before it is sent (tests, tracing)."""
    compression: bool = False
    """Negotiate permessage-deflate when a client offers it (costs CPU on every frame; base64
    audio compresses poorly). Off: clients that offer it get uncompressed frames."""
    speculation: bool = True
    """Start work on a turn before it ends: prefill the LLM with the transcript so far while the
    user speaks, and start the reply at the first silent frame (kept only if the turn ends
    there). It saves ~200 ms per turn and costs CPU for every speaking session; a server with
    many sessions on few cores may do better without it."""
    workers: int = 1
    """Server processes sharing the port (`workers.start_workers`); each loads its own engines
    and takes its share of `max_sessions` (the kernel spreads connections by a hash, not
    evenly: one worker can refuse a session while another has room). `serve()` runs one."""


def is_loopback(host: str | None) -> bool:
    """Whether `host` binds only to the local machine."""
    if host in ("localhost",):
        return True
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RealtimeServer:
    """A running server; use `serve()` to create one."""

    def __init__(
        self,
        host: str,
        port: int,
        engines: EngineSet,
        options: ServerOptions | None = None,
        *,
        reuse_port: bool = False,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.reuse_port = reuse_port
        """Bind with SO_REUSEPORT (several worker processes on one port)."""
        self.engines = engines
        self.options = options or ServerOptions()
        self.executor = ThreadPoolExecutor(
            max_workers=self.options.worker_threads, thread_name_prefix="realtime-engine"
        )
        self.sessions = 0
        self.capacity = ResponseCapacity(self.options.max_concurrent_responses)
        """Responses in progress across this server's sessions."""
        self._server: Server | None = None
        self._pipelines: dict[SessionPipeline, ServerConnection] = {}
        """Open sessions and their connections."""
        self._ticker_task: asyncio.Task[None] | None = None
        self.client_secrets = ClientSecretStore()
        self.web = WebRoutes(self.options.api_key, self.client_secrets, time.time)
        """The voice page, `/health` and `POST /v1/realtime/client_secrets`."""

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "call start() first"
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """`ws://host:port/v1/realtime`."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"ws://{host}:{self.port}/v1/realtime"

    async def start(self) -> None:
        """Bind and listen."""
        if not self.options.api_key and not is_loopback(self.host):
            raise ValueError(
                f"Refusing to listen on {self.host!r} without an API key: set --api-key or "
                f"{API_KEY_ENV}, or bind to 127.0.0.1."
            )
        self._server = await websockets_serve(
            self._connection,
            self.host,
            self.requested_port,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            max_size=2 * self.options.max_frame_bytes,
            max_queue=32,
            ping_interval=self.options.ping_interval,
            ping_timeout=self.options.ping_interval,
            reuse_port=self.reuse_port or None,
            compression="deflate" if self.options.compression else None,
            create_connection=guarded_connection_class(
                self.options.max_write_buffer_bytes,
                self.options.write_timeout,
                BodyReadingConnection,
            ),
            logger=websockets_logger([self.options.api_key or ""]),
        )
        self._ticker_task = asyncio.create_task(self._ticker())

    async def close(self) -> None:
        """Stop accepting, close every session with 1001, and stop the engine threads."""
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None
        if self._ticker_task is not None:
            self._ticker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker_task
            self._ticker_task = None
        self.executor.shutdown(wait=False, cancel_futures=True)

    def usage(self) -> list[SessionUsage]:
        """What each open session holds now (items, bytes, responses, unsent bytes)."""
        return [session_usage(pipeline, conn) for pipeline, conn in self._pipelines.items()]

    async def serve_forever(self) -> None:
        """Run until cancelled."""
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    async def __aenter__(self) -> RealtimeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ handshake

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        malformed = malformed_upgrade_response(connection, request)
        if malformed is not None:  # (a key subprotocol with raw bytes, for example)
            return malformed
        path = urlsplit(request.path).path.rstrip("/")
        assert isinstance(connection, BodyReadingConnection)  # `start` makes them so
        if path not in PATHS or connection.http_method != "GET":
            return self.web.respond(
                connection.http_method, request, connection.http_body, _presented_token(connection)
            )
        return self.web.refuse_upgrade(_presented_token(connection))

    def _authenticate(self, connection: ServerConnection) -> dict[str, Any] | None:
        """None when the client may proceed, else the `error` event to send before closing."""
        expected = self.options.api_key
        if not expected:
            return None
        token = _presented_token(connection)
        if token is None:
            return error_event(None, "Missing bearer or basic authentication in header")
        if self.web.accepts(token):
            return None
        if not token_matches(token, expected):
            return error_event(
                "invalid_api_key", "Incorrect API key provided. Check the server's --api-key."
            )
        return None

    # ------------------------------------------------------------------ sessions

    async def _connection(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        auth_error = self._authenticate(connection)
        if auth_error is not None:
            code = auth_error["error"]["code"]
            await self._refuse(
                connection, auth_error, 3000, "invalid_request_error" + (f".{code}" if code else "")
            )
            return
        query, query_error = query_parameters(request.path)
        if query_error is not None:
            await self._refuse(connection, query_error, 4000, "invalid_request_error.invalid_value")
            return
        model = (query.get("model") or [""])[0]
        intent = (query.get("intent") or ["realtime"])[0]
        if intent not in ("realtime", "transcription"):
            await self._refuse(
                connection,
                error_event(
                    "invalid_value",
                    f"Invalid value: {intent!r} for the 'intent' query parameter. Supported "
                    "values are: 'realtime' and 'transcription'.",
                    param="intent",
                ),
                4000,
                "invalid_request_error.invalid_value",
            )
            return
        if not model and not query.get("call_id") and intent != "transcription":
            await self._refuse(
                connection,
                error_event(
                    "missing_model",
                    "You must provide a model parameter, for example "
                    "ws://127.0.0.1:8765/v1/realtime?model=local",
                ),
                4000,
                "invalid_request_error.missing_model",
            )
            return
        if self.sessions >= self.options.max_sessions:
            await self._refuse(
                connection,
                error_event(
                    "session_limit_reached",
                    f"This server already runs {self.options.max_sessions} sessions; "
                    "try again later.",
                    error_type="server_error",
                ),
                1013,
                "session_limit_reached",
            )
            return
        self.sessions += 1
        try:
            await self._run_session(
                connection,
                model or "local",
                "transcription" if intent == "transcription" else "realtime",
            )
        finally:
            self.sessions -= 1

    async def _refuse(
        self, connection: ServerConnection, event: dict[str, Any], code: int, reason: str
    ) -> None:
        _discard(connection)
        with contextlib.suppress(ConnectionClosed):
            await self._send(connection, [event])
            await connection.close(code, reason)

    async def _send(self, connection: ServerConnection, events: list[dict[str, Any]]) -> None:
        """Send events in order, all frames of the batch in one transport write."""
        hook = self.options.event_hook
        if hook is not None:
            for event in events:
                hook(event)
        payloads = [_encoder.encode(event) for event in events]
        if isinstance(connection, DirectServerConnection):
            await connection.send_texts(payloads)
        else:
            for payload in payloads:
                await connection.send(payload, text=True)

    async def _run_session(self, connection: ServerConnection, model: str, intent: Intent) -> None:
        """One session; `intent="transcription"` (`?intent=transcription`) makes it a
        transcription session (its `model` is unused)."""
        options = self.options
        limits = ProtocolLimits(
            max_audio_buffer_ms=options.max_audio_buffer_ms,
            max_conversation_items=options.max_conversation_items,
            max_session_seconds=options.max_session_seconds,
            max_retained_audio_bytes=options.max_retained_audio_bytes,
            max_conversation_bytes=options.max_conversation_bytes,
            max_out_of_band_responses=options.max_out_of_band_responses,
        )
        core = SessionProtocol(
            model=model,
            now=time.monotonic(),
            limits=limits,
            created_at=time.time(),
            intent=intent,
            capacity=self.capacity,
        )
        pipeline = SessionPipeline(
            core, self.engines, executor=self.executor, speculate=options.speculation
        )
        await pipeline.start()
        assert isinstance(connection, GuardedServerConnection)  # `start` makes them so
        reader = ClientReader(
            pipeline, options.max_frame_bytes, connection.can_write, options.max_write_buffer_bytes
        )
        writer = asyncio.create_task(self._writer(connection, pipeline))
        connection.attach(reader.has_room, reader.sink)
        receiving = asyncio.create_task(connection.wait_closed())
        closing = asyncio.create_task(pipeline.closing.wait())
        self._pipelines[pipeline] = connection
        try:
            ends: set[asyncio.Future[Any]] = {writer, receiving, closing}
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._pipelines.pop(pipeline, None)
            _discard(connection)  # keep reading, for the close handshake
            for task in (receiving, closing):
                task.cancel()
            request = pipeline.close_request
            if request is not None and not writer.done():
                writer.cancel()
                with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
                    await self._send(connection, pipeline.pending_events())
                    await connection.close(request.code, request.reason)
            writer.cancel()
            await pipeline.aclose()
            core.release_responses()
            for task in (receiving, closing, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _writer(self, connection: DirectServerConnection, pipeline: SessionPipeline) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._send(connection, await pipeline.next_events())
                if connection.held:
                    connection.release()  # the queue is empty again: take held messages

    async def _ticker(self) -> None:
        """One ticker for every session (idle timeouts, expiry), not one task per session."""
        while True:
            await asyncio.sleep(self.options.tick_seconds)
            for pipeline in list(self._pipelines):
                try:
                    pipeline.tick_nowait()
                except Exception:  # one broken session must not stop the others' clocks
                    logger.exception("session tick failed")


def _discard(connection: ServerConnection) -> None:
    """Stop handing messages over (and holding them): the session is over or never began."""
    if isinstance(connection, DirectServerConnection):
        connection.discard()


def _presented_token(connection: ServerConnection) -> str | None:
    request = connection.request
    assert request is not None
    return presented_token(request.headers)


def _select_subprotocol(
    connection: ServerConnection, subprotocols: list[Subprotocol] | Any
) -> Subprotocol | None:
    """Choose `realtime` when offered (the key subprotocol is only a carrier for the token)."""
    return Subprotocol("realtime") if "realtime" in subprotocols else None


async def serve(
    host: str, port: int, engines: EngineSet, options: ServerOptions | None = None
) -> RealtimeServer:
    """Start a server (port 0 picks a free port; read it from `server.port`)."""
    if options is None:
        options = ServerOptions(api_key=os.environ.get(API_KEY_ENV) or None)
    if options.workers != 1:
        raise ValueError("serve() runs one process; use workers.serve_workers for several")
    server = RealtimeServer(host, port, engines, options)
    await server.start()
    logger.info("realtime server listening on %s (%s)", server.url, engines.describe())
    return server
