"""A plain `websockets` client for socket tests."""

from __future__ import annotations

import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


async def connect(url: str, key: str | None = "test-key", **kwargs: Any) -> ClientConnection:
    """Connect with a bearer token and `?model=local`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await websockets.connect(url + "?model=local", additional_headers=headers, **kwargs)


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    """Send one client event."""
    await ws.send(json.dumps(event))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next server event."""
    event: dict[str, Any] = json.loads(await ws.recv())
    return event


async def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Every event up to and including the first of type `kind`."""
    seen = []
    while True:
        event = await receive(ws)
        seen.append(event)
        if event["type"] == kind:
            return seen


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """Event types."""
    return [event["type"] for event in events]


def user_message(text: str) -> dict[str, Any]:
    """`conversation.item.create` with a user text message."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }
