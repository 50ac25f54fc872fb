"""Conversation items: user, assistant and system messages, function calls and their outputs."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

ItemStatus: TypeAlias = Literal["in_progress", "completed", "incomplete"]


class InputText(msgspec.Struct, frozen=True, tag="input_text", tag_field="type"):
    """Text the user (or system) wrote."""

    text: str = ""


class InputAudio(msgspec.Struct, frozen=True, tag="input_audio", tag_field="type"):
    """Audio the user spoke; `transcript` arrives later when transcription is on."""

    audio: bytes | None = None
    transcript: str | None = None


class InputImage(msgspec.Struct, frozen=True, tag="input_image", tag_field="type"):
    """An image the user sent, as a URL or a data URL."""

    image_url: str = ""
    detail: Literal["auto", "low", "high"] | None = None


class OutputText(msgspec.Struct, frozen=True, tag="output_text", tag_field="type"):
    """Text the assistant wrote."""

    text: str = ""


class OutputAudio(msgspec.Struct, frozen=True, tag="output_audio", tag_field="type"):
    """Audio the assistant spoke, with its transcript."""

    transcript: str | None = None


UserContent: TypeAlias = InputText | InputAudio | InputImage
AssistantContent: TypeAlias = OutputText | OutputAudio


class UserMessageItem(msgspec.Struct, frozen=True, kw_only=True):
    """A message from the user."""

    item_id: str
    content: tuple[UserContent, ...] = ()
    previous_item_id: str | None = None
    status: ItemStatus = "completed"
    role: Literal["user"] = "user"
    type: Literal["message"] = "message"


class AssistantMessageItem(msgspec.Struct, frozen=True, kw_only=True):
    """A message from the assistant."""

    item_id: str
    content: tuple[AssistantContent, ...] = ()
    previous_item_id: str | None = None
    status: ItemStatus = "completed"
    role: Literal["assistant"] = "assistant"
    type: Literal["message"] = "message"


class SystemMessageItem(msgspec.Struct, frozen=True, kw_only=True):
    """A system message (instructions placed in the conversation)."""

    item_id: str
    content: tuple[InputText, ...] = ()
    previous_item_id: str | None = None
    status: ItemStatus = "completed"
    role: Literal["system"] = "system"
    type: Literal["message"] = "message"


class FunctionCallItem(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call made by the model; `output` is filled once the app answers."""

    item_id: str
    call_id: str
    name: str
    arguments: str = ""
    output: str | None = None
    previous_item_id: str | None = None
    status: ItemStatus = "completed"
    type: Literal["function_call"] = "function_call"


RealtimeMessageItem: TypeAlias = UserMessageItem | AssistantMessageItem | SystemMessageItem
RealtimeItem: TypeAlias = RealtimeMessageItem | FunctionCallItem


def item_text(item: RealtimeItem) -> str:
    """The readable text of an item: text and transcripts joined, or a call's arguments."""
    if isinstance(item, FunctionCallItem):
        return item.arguments
    parts: list[str] = []
    for part in item.content:
        if isinstance(part, InputText | OutputText):
            parts.append(part.text)
        elif isinstance(part, InputAudio | OutputAudio) and part.transcript:
            parts.append(part.transcript)
    return " ".join(p for p in parts if p)
