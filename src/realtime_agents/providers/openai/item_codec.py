"""Sans-I/O conversion of conversation items between the OpenAI Realtime GA wire shape and ours."""

from __future__ import annotations

from typing import Any

from ...items import (
    AssistantContent,
    AssistantMessageItem,
    FunctionCallItem,
    InputAudio,
    InputImage,
    InputText,
    ItemStatus,
    OutputAudio,
    OutputText,
    RealtimeItem,
    SystemMessageItem,
    UserContent,
    UserMessageItem,
)
from .frames import WireContent, WireItem

_STATUSES: frozenset[str] = frozenset({"in_progress", "completed", "incomplete"})


def _status(value: str | None) -> ItemStatus:
    return value if value in _STATUSES else "completed"  # type: ignore[return-value]


def _user_content(parts: list[WireContent]) -> tuple[UserContent, ...]:
    out: list[UserContent] = []
    for part in parts:
        if part.type in ("input_text", "text"):
            out.append(InputText(text=part.text or ""))
        elif part.type in ("input_audio", "audio"):
            out.append(InputAudio(transcript=part.transcript))
        elif part.type == "input_image":
            detail = part.detail if part.detail in ("auto", "low", "high") else None
            out.append(InputImage(image_url=part.image_url or "", detail=detail))  # type: ignore[arg-type]
    return tuple(out)


def _assistant_content(parts: list[WireContent]) -> tuple[AssistantContent, ...]:
    out: list[AssistantContent] = []
    for part in parts:
        if part.type in ("output_text", "text"):
            out.append(OutputText(text=part.text or ""))
        elif part.type in ("output_audio", "audio"):
            out.append(OutputAudio(transcript=part.transcript))
    return tuple(out)


def wire_item_to_item(item: WireItem, previous_item_id: str | None = None) -> RealtimeItem | None:
    """Our item for a wire item; None for item types we do not model (MCP and the like).

    A `function_call_output` becomes a `FunctionCallItem` with `output` set and an empty `name`
    (the conversation history fills in the call it answers).
    """
    item_id = item.id or ""
    status = _status(item.status)
    if item.type == "message":
        parts = item.content or []
        if item.role == "user":
            return UserMessageItem(
                item_id=item_id,
                content=_user_content(parts),
                previous_item_id=previous_item_id,
                status=status,
            )
        if item.role == "assistant":
            return AssistantMessageItem(
                item_id=item_id,
                content=_assistant_content(parts),
                previous_item_id=previous_item_id,
                status=status,
            )
        if item.role == "system":
            texts = tuple(InputText(text=p.text or "") for p in parts if p.text is not None)
            return SystemMessageItem(
                item_id=item_id, content=texts, previous_item_id=previous_item_id, status=status
            )
        return None
    if item.type == "function_call":
        return FunctionCallItem(
            item_id=item_id,
            call_id=item.call_id or "",
            name=item.name or "",
            arguments=item.arguments or "",
            previous_item_id=previous_item_id,
            status=status,
        )
    if item.type == "function_call_output":
        return FunctionCallItem(
            item_id=item_id,
            call_id=item.call_id or "",
            name="",
            output=item.output or "",
            previous_item_id=previous_item_id,
            status="completed",
        )
    return None


def item_to_wire(item: RealtimeItem, *, include_id: bool = True) -> list[dict[str, Any]]:
    """GA `conversation.item.create` items for one of our items (a call with output gives two).

    Audio content without bytes is sent as its transcript (as text), since the client cannot
    create assistant audio and the server does not echo user audio.
    """
    head: dict[str, Any] = {"id": item.item_id} if include_id and item.item_id else {}
    if isinstance(item, FunctionCallItem):
        result: list[dict[str, Any]] = []
        if item.name:
            result.append(
                {
                    **head,
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        if item.output is not None:
            result.append(
                {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
            )
        return result
    content: list[dict[str, Any]] = []
    if isinstance(item, AssistantMessageItem):
        for out_part in item.content:
            text = out_part.text if isinstance(out_part, OutputText) else out_part.transcript
            if text:
                content.append({"type": "output_text", "text": text})
    else:
        for in_part in item.content:
            if isinstance(in_part, InputText):
                content.append({"type": "input_text", "text": in_part.text})
            elif isinstance(in_part, InputAudio):
                if in_part.audio is not None:
                    content.append({"type": "input_audio", "audio": in_part.audio})
                elif in_part.transcript:
                    content.append({"type": "input_text", "text": in_part.transcript})
            else:
                image: dict[str, Any] = {"type": "input_image", "image_url": in_part.image_url}
                if in_part.detail is not None:
                    image["detail"] = in_part.detail
                content.append(image)
    if not content:
        return []
    return [{**head, "type": "message", "role": item.role, "content": content}]
