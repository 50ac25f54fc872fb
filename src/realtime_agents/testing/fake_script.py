"""Scripted responses for `FakeRealtimeServer`: what the server says to a `response.create`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]
Transform = Callable[[list[Event]], list[Event]]


@dataclass
class ScriptedResponse:
    """One response the server will give to the next `response.create` (or VAD turn)."""

    outputs: list[dict[str, Any]]
    """Output specs: `{"text": ...}`, `{"audio": bytes, "chunk_bytes": n, "transcript": ...}`,
    `{"function_call": name, "arguments": str, "call_id": str}`."""
    close_after_events: int | None = None
    """Close the connection after sending this many of the response's events."""
    close_code: int = 1006
    transform: Transform | None = None
    """Rewrite the response's event list before sending (duplicate, reorder, ...)."""
    late_deltas_after_cancel: int = 0
    """On cancel, still send this many audio deltas before the done events (like the real API)."""


def text_response(text: str, *, chunks: int = 3) -> ScriptedResponse:
    """A text response streamed in `chunks` deltas."""
    return ScriptedResponse([{"text": text, "chunks": chunks}])


def audio_response(
    pcm: bytes, chunk_bytes: int = 1920, *, transcript: str = "", late_deltas_after_cancel: int = 0
) -> ScriptedResponse:
    """An audio response: `pcm` sent as `chunk_bytes`-sized `response.output_audio.delta`s."""
    spec = {"audio": pcm, "chunk_bytes": chunk_bytes, "transcript": transcript}
    return ScriptedResponse([spec], late_deltas_after_cancel=late_deltas_after_cancel)


def function_call(
    name: str, arguments: str | dict[str, Any], call_id: str = ""
) -> ScriptedResponse:
    """A response that calls a function (arguments streamed in two deltas)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ScriptedResponse([{"function_call": name, "arguments": args, "call_id": call_id}])


def duplicate(event_type: str) -> Transform:
    """A transform that sends every event of this type twice."""
    return lambda events: [
        e for ev in events for e in ([ev, ev] if ev["type"] == event_type else [ev])
    ]


def swap_first(type_a: str, type_b: str) -> Transform:
    """A transform that swaps the first events of these two types."""

    def apply(events: list[Event]) -> list[Event]:
        out = list(events)
        ia = next(i for i, e in enumerate(out) if e["type"] == type_a)
        ib = next(i for i, e in enumerate(out) if e["type"] == type_b)
        out[ia], out[ib] = out[ib], out[ia]
        return out

    return apply


def response_events(
    response_id: str,
    scripted: ScriptedResponse,
    new_id: Callable[[str], str],
    previous_item_id: str | None,
) -> tuple[list[Event], list[str], str | None]:
    """The events of one scripted response; also the audio item ids and the last item id."""
    audio_items: list[str] = []
    events: list[Event] = []
    for index, spec in enumerate(scripted.outputs):
        item_id = new_id("item")
        base = {
            "response_id": response_id,
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
        }
        if "function_call" in spec:
            call_id = spec["call_id"] or new_id("call")
            item = {
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "name": spec["function_call"],
                "call_id": call_id,
                "arguments": "",
            }
            args = spec["arguments"]
            half = len(args) // 2
            body = [
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": response_id,
                    "item_id": item_id,
                    "output_index": index,
                    "call_id": call_id,
                    "delta": part,
                }
                for part in (args[:half], args[half:])
            ]
            body.append(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": response_id,
                    "item_id": item_id,
                    "output_index": index,
                    "call_id": call_id,
                    "name": spec["function_call"],
                    "arguments": args,
                }
            )
            done_item = {**item, "status": "completed", "arguments": args}
        elif "audio" in spec:
            item = {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            pcm, size = spec["audio"], spec["chunk_bytes"]
            body = [
                {
                    "type": "response.content_part.added",
                    **base,
                    "part": {"type": "audio", "transcript": ""},
                }
            ]
            if spec["transcript"]:
                body.append(
                    {
                        "type": "response.output_audio_transcript.delta",
                        **base,
                        "delta": spec["transcript"],
                    }
                )
            body += [
                {
                    "type": "response.output_audio.delta",
                    **base,
                    "delta": base64.b64encode(pcm[i : i + size]).decode(),
                }
                for i in range(0, len(pcm), size)
            ]
            body += [
                {"type": "response.output_audio.done", **base},
                {
                    "type": "response.output_audio_transcript.done",
                    **base,
                    "transcript": spec["transcript"],
                },
            ]
            done_item = {
                **item,
                "status": "completed",
                "content": [{"type": "output_audio", "transcript": spec["transcript"]}],
            }
            audio_items.append(item_id)
        else:
            text, n = spec["text"], max(1, spec["chunks"])
            step = max(1, -(-len(text) // n))
            item = {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            body = [
                {
                    "type": "response.content_part.added",
                    **base,
                    "part": {"type": "text", "text": ""},
                }
            ]
            body += [
                {"type": "response.output_text.delta", **base, "delta": text[i : i + step]}
                for i in range(0, len(text), step)
            ]
            body.append({"type": "response.output_text.done", **base, "text": text})
            done_item = {
                **item,
                "status": "completed",
                "content": [{"type": "output_text", "text": text}],
            }
        events.append(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": index,
                "item": item,
            }
        )
        events.append(
            {
                "type": "conversation.item.added",
                "previous_item_id": previous_item_id,
                "item": item,
            }
        )
        events += body
        events.append(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous_item_id,
                "item": done_item,
            }
        )
        events.append(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": index,
                "item": done_item,
            }
        )
        previous_item_id = item_id
    events = scripted.transform(events) if scripted.transform else events
    return events, audio_items, previous_item_id
