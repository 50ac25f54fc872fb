"""Typed events the app sends to a `RealtimeModel` (`RealtimeModelSendEvent`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, TypedDict

import msgspec

from .events import RealtimeModelToolCallEvent
from .items import RealtimeItem
from .settings import Modality, RealtimeSessionModelSettings, ToolChoice


class RealtimeModelInputTextContent(TypedDict):
    """A text part of a user message."""

    type: Literal["input_text"]
    text: str


class RealtimeModelInputImageContent(TypedDict, total=False):
    """An image part of a user message (`image_url` may be a data URL)."""

    type: Literal["input_image"]
    image_url: str
    detail: Literal["auto", "low", "high"]


class RealtimeModelUserInputMessage(TypedDict):
    """A user message with text and image parts."""

    type: Literal["message"]
    role: Literal["user"]
    content: list[RealtimeModelInputTextContent | RealtimeModelInputImageContent]


RealtimeModelUserInput: TypeAlias = str | RealtimeModelUserInputMessage


class RealtimeModelSendRawMessage(msgspec.Struct, frozen=True):
    """Send a client event as-is; `message` must have a `type`."""

    message: Mapping[str, Any]
    type: Literal["raw_message"] = "raw_message"

    def __post_init__(self) -> None:
        if not isinstance(self.message.get("type"), str):
            raise ValueError(
                "a raw message needs a string 'type', e.g. {'type': 'response.create'}"
            )


class RealtimeModelSendUserInput(msgspec.Struct, frozen=True):
    """Add a user message to the conversation and, by default, ask for a response."""

    user_input: RealtimeModelUserInput
    start_response: bool = True
    type: Literal["user_input"] = "user_input"


class RealtimeModelSendAudio(msgspec.Struct, frozen=True, gc=False):
    """Append user audio (session input format) to the input buffer; `commit` ends the turn."""

    audio: bytes
    commit: bool = False
    type: Literal["audio"] = "audio"


class RealtimeModelSendClearAudio(msgspec.Struct, frozen=True):
    """Discard user audio appended since the last commit."""

    type: Literal["clear_audio"] = "clear_audio"


class RealtimeModelSendToolOutput(msgspec.Struct, frozen=True):
    """Answer a tool call; `start_response` asks the model to go on speaking."""

    tool_call: RealtimeModelToolCallEvent
    output: str
    start_response: bool = True
    type: Literal["tool_output"] = "tool_output"


class RealtimeModelSendInterrupt(msgspec.Struct, frozen=True):
    """Stop the assistant: truncate what was not heard and, unless told not to, cancel the response.

    `response_id` limits the interrupt to one response (ignored if it is no longer active).
    """

    cancel_response: bool = True
    response_id: str | None = None
    type: Literal["interrupt"] = "interrupt"


class RealtimeModelSendSessionUpdate(msgspec.Struct, frozen=True):
    """Change session settings (partial update; flat or GA keys)."""

    session_settings: RealtimeSessionModelSettings
    type: Literal["session_update"] = "session_update"


class RealtimeModelSendCreateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the model for a response, with optional per-response overrides."""

    instructions: str | None = None
    tool_choice: ToolChoice | None = None
    output_modalities: list[Modality] | None = None
    metadata: Mapping[str, str] | None = None
    conversation: Literal["auto", "none"] | None = None
    """`"none"` makes an out-of-band response that is not added to the conversation."""
    max_output_tokens: int | Literal["inf"] | None = None
    type: Literal["create_response"] = "create_response"


class RealtimeModelSendConversationItem(msgspec.Struct, frozen=True):
    """Insert an item into the conversation (e.g. to seed history); no response is started."""

    item: RealtimeItem
    previous_item_id: str | None = None
    type: Literal["conversation_item"] = "conversation_item"


class RealtimeModelSendDeleteItem(msgspec.Struct, frozen=True):
    """Remove an item from the model's conversation (`conversation.item.delete`)."""

    item_id: str
    type: Literal["delete_item"] = "delete_item"


RealtimeModelSendEvent: TypeAlias = (
    RealtimeModelSendRawMessage
    | RealtimeModelSendUserInput
    | RealtimeModelSendAudio
    | RealtimeModelSendClearAudio
    | RealtimeModelSendToolOutput
    | RealtimeModelSendInterrupt
    | RealtimeModelSendSessionUpdate
    | RealtimeModelSendCreateResponse
    | RealtimeModelSendConversationItem
    | RealtimeModelSendDeleteItem
)
"""Every event an app can send to a `RealtimeModel`."""
