"""The default conversation: ordered items, client item parsing, and chat messages for the LLM."""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .b64 import decode_strict
from .engines.base import ChatMessage
from .errors import ProtocolError, invalid_value
from .ids import new_id
from .json_validators import check_keys, expect_enum, expect_list, expect_object, expect_str, join

_ROLE_CONTENT = {
    "user": ["input_text", "input_audio", "input_image"],
    "system": ["input_text"],
    "assistant": ["output_text", "output_audio"],
}
_ALIASES = {
    ("user", "text"): "input_text",
    ("system", "text"): "input_text",
    ("assistant", "text"): "output_text",
    ("assistant", "audio"): "output_audio",
    ("user", "audio"): "input_audio",
}


def user_audio_item(item_id: str, transcript: str | None = None) -> dict[str, Any]:
    """The user item committed audio becomes (the transcript is filled in only for the LLM)."""
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


DEFAULT_MAX_RETAINED_AUDIO_BYTES = 4 * 1024 * 1024
"""Audio a conversation keeps for `conversation.item.retrieve`, its only reader (about 87 s of
PCM16 at 24 kHz, 8.7 minutes of G.711: the last user turn and the answer to it); beyond it the
oldest items' audio is dropped first. Transcription, truncation and usage do not need it."""
DEFAULT_MAX_CONVERSATION_BYTES = 32 * 1024 * 1024
"""What a conversation's items (their text, arguments, outputs, transcripts; not the audio,
which `DEFAULT_MAX_RETAINED_AUDIO_BYTES` bounds) may hold, as `item_size` counts them."""
ITEM_OVERHEAD_BYTES = 256
"""What `item_size` adds per item and per content part for the objects around the text (so a
flood of tiny parts counts for what it holds in memory, not for its short JSON)."""
_size_encoder = msgspec.json.Encoder()


def item_size(item: dict[str, Any]) -> int:
    """The bytes an item counts for against `max_conversation_bytes`: its JSON length plus
    `ITEM_OVERHEAD_BYTES` for itself and for each content part."""
    parts = item.get("content")
    count = 1 + (len(parts) if isinstance(parts, list) else 0)
    return len(_size_encoder.encode(item)) + ITEM_OVERHEAD_BYTES * count


@dataclass(slots=True)
class ItemAudio:
    """Audio kept beside an item: user input audio, or assistant output audio and its length."""

    input_audio: bytes = b""
    input_format: str = "pcm16"
    input_bytes: int = 0
    """The length of the item's input audio (kept when the audio itself is dropped)."""
    output_bytes: int = 0
    """The length of the assistant audio (truncation cuts it; kept when the audio is dropped)."""
    output_format: str = "pcm16"
    output_audio: bytearray = field(default_factory=bytearray)
    """The assistant audio itself, while the conversation's audio budget keeps it."""
    dropped: bool = False
    """The audio was dropped for the budget: `retrieve` returns the item without it."""
    segments: list[tuple[int, str]] = field(default_factory=list)
    """Assistant transcript pieces with the output byte offset where each piece's audio starts."""

    @property
    def retained(self) -> int:
        """Bytes of audio this item holds."""
        return len(self.input_audio) + len(self.output_audio)


@dataclass(slots=True)
class ParsedItem:
    """A client item in wire shape, with the raw audio of its `input_audio` part (if any)."""

    item: dict[str, Any]
    audio: bytes | None = None


def parse_client_item(raw: object, param: str = "item") -> ParsedItem:
    """Validate a client item; returns it in the GA wire shape with an id and status."""
    obj = expect_object(raw, param)
    kind = expect_enum(
        obj.get("type", "message"),
        join(param, "type"),
        ["message", "function_call", "function_call_output"],
    )
    common = ["id", "type", "object", "status"]
    item_id = expect_str(obj["id"], join(param, "id"), max_length=64) if "id" in obj else None
    item_id = item_id or new_id("item")
    if "status" in obj:
        expect_enum(
            obj["status"], join(param, "status"), ["completed", "incomplete", "in_progress"]
        )
    if kind == "function_call":
        check_keys(
            obj,
            [*common, "call_id", "name", "arguments"],
            param,
            required=["call_id", "name", "arguments"],
        )
        return ParsedItem(
            {
                "id": item_id,
                "type": "function_call",
                "status": "completed",
                "name": expect_str(obj["name"], join(param, "name")),
                "call_id": expect_str(obj["call_id"], join(param, "call_id")),
                "arguments": expect_str(obj["arguments"], join(param, "arguments")),
            }
        )
    if kind == "function_call_output":
        check_keys(obj, [*common, "call_id", "output"], param, required=["call_id", "output"])
        return ParsedItem(
            {
                "id": item_id,
                "type": "function_call_output",
                "call_id": expect_str(obj["call_id"], join(param, "call_id")),
                "output": expect_str(obj["output"], join(param, "output")),
            }
        )
    check_keys(obj, [*common, "role", "content"], param, required=["role", "content"])
    role = expect_enum(obj["role"], join(param, "role"), ["user", "assistant", "system"])
    content: list[dict[str, Any]] = []
    audio: bytes | None = None
    for index, raw_part in enumerate(expect_list(obj["content"], join(param, "content"))):
        part_param = f"{join(param, 'content')}[{index}]"
        part = expect_object(raw_part, part_param)
        part_type = part.get("type")
        part_type = _ALIASES.get((role, str(part_type)), part_type)
        expect_enum(part_type, join(part_param, "type"), _ROLE_CONTENT[role])
        if part_type in ("input_text", "output_text"):
            check_keys(part, ["type", "text"], part_param, required=["text"])
            content.append(
                {"type": part_type, "text": expect_str(part["text"], join(part_param, "text"))}
            )
        elif part_type == "input_audio":
            check_keys(part, ["type", "audio", "transcript", "format"], part_param)
            transcript = part.get("transcript")
            if transcript is not None:
                expect_str(transcript, join(part_param, "transcript"))
            if part.get("audio") is not None:
                audio = decode_base64(part["audio"], join(part_param, "audio"))
            content.append({"type": "input_audio", "transcript": transcript})
        elif part_type == "output_audio":
            check_keys(part, ["type", "transcript"], part_param)
            transcript = part.get("transcript")
            if transcript is not None:
                expect_str(transcript, join(part_param, "transcript"))
            content.append({"type": "output_audio", "transcript": transcript})
        else:
            check_keys(part, ["type", "image_url", "detail"], part_param, required=["image_url"])
            content.append(
                {
                    "type": "input_image",
                    "image_url": expect_str(part["image_url"], join(part_param, "image_url")),
                    "detail": expect_enum(
                        part.get("detail", "auto"),
                        join(part_param, "detail"),
                        ["auto", "low", "high"],
                    ),
                }
            )
    item = {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": role,
        "content": content,
    }
    return ParsedItem(item, audio)


def decode_base64(value: object, param: str) -> bytes:
    """Standard padded base64 (`invalid_value` otherwise)."""
    text = expect_str(value, param)
    try:
        return decode_strict(text)
    except (binascii.Error, ValueError):
        raise ProtocolError(
            "invalid_value", f"Invalid '{param}': expected base64-encoded audio.", param
        ) from None


class Conversation:
    """The ordered items of the default conversation, with per-item audio."""

    def __init__(self, max_audio_bytes: int = DEFAULT_MAX_RETAINED_AUDIO_BYTES) -> None:
        self.id = new_id("conv")
        self._items: list[dict[str, Any]] = []
        self._index: dict[str, dict[str, Any]] = {}
        self.audio: dict[str, ItemAudio] = {}
        """Per item, in the order the audio was added."""
        self._holding: dict[str, ItemAudio] = {}
        """The entries of `audio` not dropped yet, oldest first (the order they are dropped in):
        once the budget is full, each new chunk drops from the front instead of scanning
        every item."""
        self.max_audio_bytes = max_audio_bytes
        self.audio_bytes = 0
        """Bytes of audio all items hold; at most `max_audio_bytes` between calls."""
        self.item_bytes = 0
        """What the items count for (`item_size` of each, as they are now)."""
        self._sizes: dict[str, int] = {}

    # ------------------------------------------------------------------ audio

    def add_audio(self, item_id: str, audio: ItemAudio) -> None:
        """Keep `audio` beside the item (its input audio counts against the budget)."""
        audio.input_bytes = len(audio.input_audio)
        self.audio[item_id] = audio
        self._holding[item_id] = audio
        self.audio_bytes += audio.retained
        self._fit(audio)

    def add_output(self, audio: ItemAudio, chunk: bytes) -> None:
        """An assistant audio chunk of a registered item: counted, and kept if it fits."""
        audio.output_bytes += len(chunk)
        if audio.dropped:
            return
        audio.output_audio += chunk
        self.audio_bytes += len(chunk)
        self._fit(audio)

    def cut_output(self, audio: ItemAudio, size: int) -> None:
        """Truncate an item's assistant audio to `size` bytes."""
        audio.output_bytes = min(audio.output_bytes, size)
        if len(audio.output_audio) > size:
            self.audio_bytes -= len(audio.output_audio) - size
            del audio.output_audio[size:]

    def _drop(self, audio: ItemAudio) -> None:
        self.audio_bytes -= audio.retained
        audio.input_audio = b""
        audio.output_audio = bytearray()
        audio.dropped = True

    def _fit(self, newest: ItemAudio) -> None:
        """Drop the oldest items' audio until the budget holds (`newest` last of all)."""
        if self.audio_bytes <= self.max_audio_bytes:
            return
        holding = self._holding
        while self.audio_bytes > self.max_audio_bytes:
            oldest = next((k for k, a in holding.items() if a is not newest and a.retained), None)
            if oldest is None:  # only `newest` holds audio: alone it is over the budget
                oldest = next(k for k, a in holding.items() if a is newest)
            self._drop(holding.pop(oldest))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def get(self, item_id: str) -> dict[str, Any] | None:
        """The item with this id, or None."""
        return self._index.get(item_id)

    def ids(self) -> list[str]:
        """Item ids in conversation order."""
        return [item["id"] for item in self._items]

    def last_id(self) -> str | None:
        """The id of the last item, or None when empty."""
        return self._items[-1]["id"] if self._items else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` ("root": first; None: append); return the previous id."""
        if item["id"] in self._index:
            raise invalid_value("item.id", item["id"])
        if previous_item_id is None:
            position = len(self._items)
        elif previous_item_id == "root":
            position = 0
        elif previous_item_id in self._index:
            position = self._items.index(self._index[previous_item_id]) + 1
        else:
            raise ProtocolError(
                "invalid_value",
                f"Previous item with item_id '{previous_item_id}' not found in the conversation.",
                "previous_item_id",
            )
        self._items.insert(position, item)
        self._index[item["id"]] = item
        size = self._sizes[item["id"]] = item_size(item)
        self.item_bytes += size
        return self._items[position - 1]["id"] if position > 0 else None

    def resize(self, item_id: str) -> None:
        """Count an item again after it changed (a transcript, a finished message)."""
        item = self._index.get(item_id)
        if item is not None:
            size = item_size(item)
            self.item_bytes += size - self._sizes[item_id]
            self._sizes[item_id] = size

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item before `item_id`."""
        position = self._items.index(self._index[item_id])
        return self._items[position - 1]["id"] if position > 0 else None

    def delete(self, item_id: str) -> None:
        """Remove an item (it must exist)."""
        item = self._index.pop(item_id)
        self._items.remove(item)
        self.item_bytes -= self._sizes.pop(item_id)
        audio = self.audio.pop(item_id, None)
        self._holding.pop(item_id, None)
        if audio is not None:
            self._drop(audio)  # (a response still streaming into it keeps nothing more)


def user_text(item: dict[str, Any]) -> str:
    """The text a message item stands for: its text parts and audio transcripts."""
    pieces: list[str] = []
    for part in item.get("content", []):
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            pieces.append(part.get("text") or "")
        elif kind in ("input_audio", "output_audio"):
            pieces.append(part.get("transcript") or "")
        elif kind == "input_image":
            pieces.append("[image]")
    return " ".join(piece for piece in pieces if piece)


def chat_messages(instructions: str, items: list[dict[str, Any]]) -> list[ChatMessage]:
    """OpenAI-style chat messages for the LLM: instructions first, tool calls and outputs kept."""
    messages: list[ChatMessage] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role = item["role"]
            messages.append({"role": role, "content": user_text(item)})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
            )
    return messages


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for usage reports."""
    return (len(text) + 3) // 4


def messages_tokens(messages: list[ChatMessage]) -> int:
    """Rough input token count of a chat."""
    return sum(estimate_tokens(json.dumps(message)) for message in messages)
