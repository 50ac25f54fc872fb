"""A session's own limits in the sans-I/O core: the conversation's items and bytes, the
out-of-band responses in progress, and the response refused when one is reached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .active_response import ActiveResponse
from .conversation import Conversation
from .effects import Output, ProtocolLimits
from .errors import ProtocolError
from .response_params import ResponseParams


def conversation_full(
    limits: ProtocolLimits, conversation: Conversation, adding_bytes: int = 0
) -> ProtocolError | None:
    """Why `conversation` cannot take another item (of `adding_bytes`), or None."""
    if len(conversation) >= limits.max_conversation_items:
        return ProtocolError(
            "conversation_max_items_exceeded",
            f"The conversation already holds the maximum of {limits.max_conversation_items}"
            " items; delete items with conversation.item.delete before adding more.",
        )
    held = conversation.item_bytes
    if held + adding_bytes > limits.max_conversation_bytes or (
        not adding_bytes and held >= limits.max_conversation_bytes
    ):
        return ProtocolError(
            "conversation_max_bytes_exceeded",
            f"The conversation's items would hold more than the maximum of "
            f"{limits.max_conversation_bytes} bytes (they hold {held}; the item adds "
            f"{adding_bytes}); delete items with conversation.item.delete before adding "
            "more.",
        )
    return None


def out_of_band_full(
    limits: ProtocolLimits, responses: Mapping[str, ActiveResponse]
) -> ProtocolError | None:
    """Why another out-of-band response cannot start beside `responses`, or None."""
    limit = limits.max_out_of_band_responses
    running = sum(1 for response in responses.values() if response.params.out_of_band)
    if running < limit:
        return None
    return ProtocolError(
        "out_of_band_response_limit_reached",
        f"This session already has {running} out-of-band responses (conversation: "
        f'"none") in progress, the server\'s limit of {limit} per session; wait for a '
        "response.done before creating another.",
        "response.conversation",
    )


def refused_response(
    response_id: str, params: ResponseParams, conversation_id: str, error: ProtocolError
) -> list[Output]:
    """A response the server started itself, ended at once: `failed` with `error`."""
    response = ActiveResponse(
        response_id, params, None, None if params.out_of_band else conversation_id
    )
    details: dict[str, Any] = {
        "type": "failed",
        "error": {"type": error.error_type, "code": error.code, "message": error.message},
    }
    return [response.created_event(), *response.finish("failed", details)]
