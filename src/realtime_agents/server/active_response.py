"""One response in progress: its output items and the exact GA event stream they produce."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..audio import bytes_per_second
from . import b64
from .conversation import Conversation, ItemAudio, estimate_tokens
from .engines.base import LlmToolCall
from .errors import ProtocolError
from .ids import new_id
from .response_params import ResponseParams
from .session_config import format_name


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """A server event with a fresh `event_id`."""
    return {"type": type_, "event_id": new_id("event"), **fields}


class ActiveResponse:
    """Builds the events of one response; out-of-band responses touch no conversation."""

    def __init__(
        self,
        response_id: str,
        params: ResponseParams,
        conversation: Conversation | None,
        conversation_id: str | None,
        room: Callable[[], ProtocolError | None] | None = None,
    ) -> None:
        """`room` says why the conversation can take no more items (None: it can); a new
        output item then raises that `ProtocolError` before anything changes."""
        self.id = response_id
        self.room = room
        self.params = params
        self.conversation = conversation
        self.conversation_id = conversation_id
        self.output: list[dict[str, Any]] = []
        self.started = False
        self.waiting_for: set[str] = set()
        self.input_item_ids: list[str] | None = None
        self.input_items: list[dict[str, Any]] | None = None
        self.input_tokens = 0
        self.text_tokens = 0
        self.audio_ms = 0.0
        self.finished = False
        self._message: dict[str, Any] | None = None
        self._message_text = ""
        self._message_audio: ItemAudio | None = None
        self._audio_mode = "audio" in params.output_modalities
        self._format = format_name(params.output_format)

    # ------------------------------------------------------------------ response object

    def response_object(
        self,
        status: str,
        status_details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The `response` object of `response.created` / `response.done`."""
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": status_details,
            "output": copy.deepcopy(self.output),
            "conversation_id": self.conversation_id,
            "output_modalities": list(self.params.output_modalities),
            "max_output_tokens": self.params.max_output_tokens,
            "audio": {
                "output": {
                    "format": dict(self.params.output_format),
                    "voice": copy.deepcopy(self.params.voice),
                }
            },
            "usage": usage,
            "metadata": dict(self.params.metadata) if self.params.metadata is not None else None,
        }

    def created_event(self) -> dict[str, Any]:
        """`response.created`."""
        return event("response.created", response=self.response_object("in_progress"))

    def usage(self) -> dict[str, Any]:
        """Estimated token usage (characters / 4 for text, 20 tokens a second of audio)."""
        audio_tokens = int(self.audio_ms / 50)
        output = self.text_tokens + audio_tokens
        return {
            "total_tokens": self.input_tokens + output,
            "input_tokens": self.input_tokens,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": self.input_tokens,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": self.text_tokens, "audio_tokens": audio_tokens},
        }

    # ------------------------------------------------------------------ output items

    def _add_item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        self.output.append(item)
        events = [
            event(
                "response.output_item.added",
                response_id=self.id,
                output_index=len(self.output) - 1,
                item=copy.deepcopy(item),
            )
        ]
        if self.conversation is not None:
            previous = self.conversation.insert(item)
            events.append(
                event(
                    "conversation.item.added",
                    previous_item_id=previous,
                    item=copy.deepcopy(item),
                )
            )
        return events

    def _done_item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        if self.conversation is not None and item["id"] in self.conversation:
            self.conversation.resize(item["id"])  # its text or arguments are in it now
            events.append(
                event(
                    "conversation.item.done",
                    previous_item_id=self.conversation.previous_id(item["id"]),
                    item=copy.deepcopy(item),
                )
            )
        events.append(
            event(
                "response.output_item.done",
                response_id=self.id,
                output_index=self.output.index(item),
                item=copy.deepcopy(item),
            )
        )
        return events

    def _ids(self) -> dict[str, Any]:
        assert self._message is not None
        return {
            "response_id": self.id,
            "item_id": self._message["id"],
            "output_index": self.output.index(self._message),
            "content_index": 0,
        }

    def _check_room(self) -> None:
        if self.conversation is not None and self.room is not None:
            full = self.room()
            if full is not None:
                raise full

    def _open_message(self) -> list[dict[str, Any]]:
        if self._message is not None:
            return []
        self._check_room()
        item: dict[str, Any] = {
            "id": new_id("item"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self._message = item
        self._message_text = ""
        self._message_audio = ItemAudio(output_format=self._format) if self._audio_mode else None
        if self._message_audio is not None and self.conversation is not None:
            self.conversation.add_audio(item["id"], self._message_audio)
        events = self._add_item(item)
        part = (
            {"type": "audio", "transcript": ""}
            if self._audio_mode
            else {"type": "text", "text": ""}
        )
        events.append(event("response.content_part.added", **self._ids(), part=part))
        return events

    def text(self, delta: str) -> list[dict[str, Any]]:
        """A text delta (text mode) or a transcript delta of the audio that follows (audio mode)."""
        if not delta:
            return []
        events = self._open_message()
        self.text_tokens += estimate_tokens(delta)
        if self._message_audio is not None:
            self._message_audio.segments.append((self._message_audio.output_bytes, delta))
        self._message_text += delta
        kind = (
            "response.output_audio_transcript.delta"
            if self._audio_mode
            else "response.output_text.delta"
        )
        events.append(event(kind, **self._ids(), delta=delta))
        return events

    def audio(self, chunk: bytes) -> list[dict[str, Any]]:
        """An audio delta in the response's output format (ignored in text mode)."""
        if not chunk or not self._audio_mode:
            return []
        events = self._open_message()
        assert self._message_audio is not None
        if self.conversation is not None:
            self.conversation.add_output(self._message_audio, chunk)
        else:  # out of band: nothing is kept
            self._message_audio.output_bytes += len(chunk)
        self.audio_ms += len(chunk) * 1000 / bytes_per_second(self._format)
        delta = b64.encode(chunk)
        events.append(event("response.output_audio.delta", **self._ids(), delta=delta))
        return events

    def close_message(self, status: str) -> list[dict[str, Any]]:
        """Finish the open assistant message with its `*.done` events."""
        if self._message is None:
            return []
        ids = self._ids()
        text = self._message_text
        events: list[dict[str, Any]]
        if self._audio_mode:
            events = [
                event("response.output_audio.done", **ids),
                event("response.output_audio_transcript.done", **ids, transcript=text),
                event(
                    "response.content_part.done", **ids, part={"type": "audio", "transcript": text}
                ),
            ]
            content = {"type": "output_audio", "transcript": text}
        else:
            events = [
                event("response.output_text.done", **ids, text=text),
                event("response.content_part.done", **ids, part={"type": "text", "text": text}),
            ]
            content = {"type": "output_text", "text": text}
        self._message["content"] = [content]
        self._message["status"] = status
        events += self._done_item(self._message)
        self._message = None
        return events

    def tool_call(self, call: LlmToolCall) -> list[dict[str, Any]]:
        """A complete function call item (after the message so far, if any)."""
        self._check_room()
        events = self.close_message("completed")
        item: dict[str, Any] = {
            "id": new_id("item"),
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call.call_id,
            "arguments": "",
        }
        events += self._add_item(item)
        ids = {
            "response_id": self.id,
            "item_id": item["id"],
            "output_index": self.output.index(item),
            "call_id": call.call_id,
        }
        self.text_tokens += estimate_tokens(call.arguments)
        if call.arguments:
            events.append(
                event("response.function_call_arguments.delta", **ids, delta=call.arguments)
            )
        events.append(
            event(
                "response.function_call_arguments.done",
                **ids,
                name=call.name,
                arguments=call.arguments,
            )
        )
        item["arguments"] = call.arguments
        item["status"] = "completed"
        events += self._done_item(item)
        return events

    def finish(self, status: str, status_details: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Close open items and send `response.done`."""
        self.finished = True
        item_status = "completed" if status == "completed" else "incomplete"
        events = self.close_message(item_status)
        events.append(
            event(
                "response.done",
                response=self.response_object(status, status_details, self.usage()),
            )
        )
        return events
