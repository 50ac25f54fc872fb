"""One `FakeRealtimeServer` connection: what the client sent, and the Realtime API's answers to
its events (session, items, input audio with optional VAD, responses streamed from the script,
cancel, truncate, delete)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .._wsdirect import close_without_status, transport_of
from .fake_script import Event, ScriptedResponse, response_events, text_response


@dataclass
class FakeServerState:
    """What a `FakeRealtimeServer` shares with its connections: its settings, the scripted
    responses, ids, and what the tests read back (errors sent, overlapping creates)."""

    vad: bool = False
    vad_turn_ms: int = 300
    pace_s: float = 0.0
    scripted: list[ScriptedResponse] = field(default_factory=list)
    errors_sent: list[Event] = field(default_factory=list)
    overlap_errors: int = 0
    """How many `response.create`s arrived while a response was active."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Responses being streamed (cancelled when the server stops)."""
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


@dataclass
class FakeConnection:
    """One client connection: its request headers and the events it sent, parsed; it answers
    them as the API would."""

    ws: ServerConnection
    headers: dict[str, str]
    path: str
    shared: FakeServerState
    received: list[Event] = field(default_factory=list)
    session: Event = field(default_factory=dict)
    active_response: str | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    audio_bytes: dict[str, int] = field(default_factory=dict)
    input_buffer_bytes: int = 0
    input_audio_total: int = 0
    """Every input audio byte of the session (audio_start_ms/audio_end_ms count from its start,
    as OpenAI's do)."""
    last_item_id: str | None = None
    item_ids: set[str] = field(default_factory=set)
    """Items in the conversation (added, not deleted), for `conversation.item.delete`."""

    async def send(self, event: Event) -> None:
        """Send a server event (an `event_id` is added if it has none)."""
        event.setdefault("event_id", self.shared.new_id("event"))
        if event["type"] == "error":
            self.shared.errors_sent.append(event)
        elif event["type"] == "conversation.item.added":
            self.item_ids.add(event["item"]["id"])
        await self.ws.send(json.dumps(event))

    async def error(self, code: str, message: str, client_event_id: Any = None) -> None:
        """An `error` event with the API's `code`, naming the client event it answers."""
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": None,
            "event_id": client_event_id,
        }
        await self.send({"type": "error", "error": error})

    async def close(self, code: int, reason: str = "") -> None:
        """Close with `code` (1006: drop TCP without a close frame; 1005: an empty one)."""
        if code == 1006:
            transport_of(self.ws).abort()
        elif code == 1005:  # an empty close frame: the client sees "no status code"
            await close_without_status(self.ws)
        else:
            await self.ws.close(code, reason)

    async def dispatch(self, event: Event) -> None:
        """Answer one client event as the API would."""
        kind = event.get("type")
        client_id = event.get("event_id")
        if kind == "session.update":
            session = event.get("session") or {}
            if session.get("type") != "realtime":
                await self.error(
                    "missing_required_parameter",
                    "fake server: session.type must be 'realtime'",
                    client_id,
                )
                return
            self.session.update(session)
            await self.send({"type": "session.updated", "session": self.session})
        elif kind == "conversation.item.create":
            item = dict(event.get("item") or {})
            item.setdefault("id", self.shared.new_id("item"))
            await self._add_item(item)
        elif kind == "input_audio_buffer.append":
            size = len(base64.b64decode(event.get("audio", "")))
            started = self.input_buffer_bytes == 0
            self.input_buffer_bytes += size
            self.input_audio_total += size
            if self.shared.vad and started:
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": (self.input_audio_total - size) // 48,
                        "item_id": self.shared.new_id("item"),
                    },
                )
            if self.shared.vad and self.input_buffer_bytes >= self.shared.vad_turn_ms * 48:
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": self.input_audio_total // 48,
                        "item_id": "",
                    },
                )
                await self._commit()
                await self._start_response(None)
        elif kind == "input_audio_buffer.commit":
            if self.input_buffer_bytes < 100 * 48:
                await self.error(
                    "input_audio_buffer_commit_empty",
                    "fake server: under 100 ms buffered",
                    client_id,
                )
            else:
                await self._commit()
        elif kind == "input_audio_buffer.clear":
            self.input_buffer_bytes = 0
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "response.create":
            if self.active_response is not None:
                self.shared.overlap_errors += 1
                await self.error(
                    "conversation_already_has_active_response",
                    f"fake server: {self.active_response} is still active",
                    client_id,
                )
                return
            await self._start_response(client_id)
        elif kind == "response.cancel":
            if self.active_response is None:
                await self.error(
                    "response_cancel_not_active",
                    "fake server: no active response",
                    client_id,
                )
            else:
                self.cancel_requested.set()
        elif kind == "conversation.item.delete":
            item_id = event.get("item_id")
            if item_id not in self.item_ids:
                await self.error(
                    "item_delete_invalid_item_id",
                    f"fake server: no item {item_id}",
                    client_id,
                )
            else:
                self.item_ids.discard(str(item_id))
                await self.send({"type": "conversation.item.deleted", "item_id": item_id})
        elif kind == "conversation.item.truncate":
            item_id, end_ms = event.get("item_id"), event.get("audio_end_ms", 0)
            length_ms = self.audio_bytes.get(str(item_id), 0) / 48
            if item_id not in self.audio_bytes:
                await self.error(
                    "item_truncate_invalid_item_id",
                    f"fake server: no item {item_id}",
                    client_id,
                )
            elif end_ms > length_ms:
                await self.error(
                    "invalid_value",
                    f"fake server: the audio is {length_ms} ms, not {end_ms} ms",
                    client_id,
                )
            else:
                await self.send(
                    {
                        "type": "conversation.item.truncated",
                        "item_id": item_id,
                        "content_index": 0,
                        "audio_end_ms": end_ms,
                    },
                )
        else:
            await self.error(
                "invalid_value", f"fake server: unknown event type {kind!r}", client_id
            )

    async def _add_item(self, item: Event) -> None:
        previous, self.last_item_id = self.last_item_id, item["id"]
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.send({"type": kind, "previous_item_id": previous, "item": item})

    async def _commit(self) -> None:
        self.input_buffer_bytes = 0
        item_id = self.shared.new_id("item")
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": self.last_item_id,
                "item_id": item_id,
            },
        )
        await self._add_item(
            {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        )

    async def _start_response(self, client_id: Any) -> None:
        response_id = self.shared.new_id("resp")
        self.active_response = response_id
        self.cancel_requested = asyncio.Event()
        scripted = self.shared.scripted.pop(0) if self.shared.scripted else text_response("ok")
        task = asyncio.get_running_loop().create_task(self._stream(response_id, scripted))
        self.shared.tasks.add(task)
        task.add_done_callback(self.shared.tasks.discard)

    async def _stream(self, response_id: str, scripted: ScriptedResponse) -> None:
        response: Event = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "usage": None,
        }
        status: str = "completed"
        details: dict[str, str] | None = None
        try:
            await self.send({"type": "response.created", "response": response})
            events, audio_items, self.last_item_id = response_events(
                response_id, scripted, self.shared.new_id, self.last_item_id
            )
            for item_id in audio_items:
                self.audio_bytes[item_id] = 0
            for sent, event in enumerate(events):
                if scripted.close_after_events is not None and sent >= scripted.close_after_events:
                    self.active_response = None
                    await self.close(scripted.close_code, "")
                    return
                if self.cancel_requested.is_set():
                    late = [e for e in events[sent:] if e["type"] == "response.output_audio.delta"]
                    for extra in late[: scripted.late_deltas_after_cancel]:
                        await self._send_counted(dict(extra))
                    status, details = (
                        "cancelled",
                        {"type": "cancelled", "reason": "client_cancelled"},
                    )
                    break
                await self._send_counted(dict(event))
                await asyncio.sleep(self.shared.pace_s)
            self.active_response = None
            usage = {"total_tokens": 3, "input_tokens": 1, "output_tokens": 2}
            done = {**response, "status": status, "status_details": details, "usage": usage}
            await self.send({"type": "response.done", "response": done})
        except ConnectionClosed:
            self.active_response = None

    async def _send_counted(self, event: Event) -> None:
        if event["type"] == "response.output_audio.delta":
            item_id = event["item_id"]
            self.audio_bytes[item_id] = self.audio_bytes.get(item_id, 0) + len(
                base64.b64decode(event["delta"])
            )
        await self.send(event)
