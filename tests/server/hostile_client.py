"""Helpers for hostile-input tests: send raw text, then prove the session still answers."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

from socket_client import receive, send
from websockets.asyncio.client import ClientConnection

_probes = itertools.count()


async def probe(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every event up to the `error` answering a retrieve of a missing item: in order after
    whatever was sent before, so its arrival proves the session handled that and lives on."""
    probe_id = f"probe_{next(_probes)}"
    await send(
        ws, {"type": "conversation.item.retrieve", "item_id": "missing", "event_id": probe_id}
    )
    seen = []
    while True:
        event = await receive(ws)
        if event["type"] == "error" and event["error"]["event_id"] == probe_id:
            assert event["error"]["code"] == "item_retrieve_invalid_item_id", event
            return seen
        seen.append(event)


async def answer_to(ws: ClientConnection, text: str | bytes) -> list[dict[str, Any]]:
    """Send one raw text message; the events it got (before the probe's answer)."""
    await ws.send(text)
    return await probe(ws)


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `error` objects among `events`."""
    return [event["error"] for event in events if event["type"] == "error"]


def one_error(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The only `error` among `events`; it must be the client's fault, not a server failure."""
    found = errors(events)
    assert len(found) == 1, events
    assert found[0]["type"] == "invalid_request_error", found[0]
    return found[0]


def nested(depth: int, leaf: Any = 1) -> Any:
    """`leaf` inside `depth` levels of arrays."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def dumps(event: dict[str, Any]) -> str:
    """JSON text of an event (deep values included: no recursion limit on the client side)."""
    return json.dumps(event)


class ServerLog(logging.Handler):
    """Collects the server's log records at ERROR and above, and any with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{record.name}: {record.getMessage()}" for record in self.records]


def watched_log() -> Iterator[ServerLog]:
    """Attach a `ServerLog` to the `realtime_agents` and `websockets` loggers for a block."""
    handler = ServerLog()
    loggers = [logging.getLogger("realtime_agents"), logging.getLogger("websockets")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
