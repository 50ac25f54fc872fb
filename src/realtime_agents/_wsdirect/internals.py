"""The `websockets` internals used outside the direct connections, and the check of all of them.

`missing_internals` lists what the installed release lacks of what this package uses beyond
`websockets`' documented API (the direct connections' overrides included);
tests/test_websockets_adapter.py fails, naming the installed and supported versions, when it
is not empty.
"""

from __future__ import annotations

import asyncio
import inspect

from websockets.asyncio.connection import Connection
from websockets.asyncio.messages import Assembler
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol
from websockets.version import version as websockets_version

__all__ = [
    "SUPPORTED_WEBSOCKETS",
    "close_without_status",
    "missing_internals",
    "transport_of",
    "websockets_version",
]

SUPPORTED_WEBSOCKETS = ">=16,<18"
"""The `websockets` releases this adapter is tested on, as pyproject.toml pins them (15 has no
`max_message_size` and no `send_in_progress`)."""


def transport_of(connection: Connection) -> asyncio.Transport:
    """The asyncio transport under any `websockets` asyncio connection (to pause reading it,
    or to drop it without a close frame)."""
    transport: asyncio.Transport = connection.transport
    return transport


async def close_without_status(connection: Connection) -> None:
    """Close with an empty close frame: the peer sees 1005, "no status code"."""
    await connection.close(None)  # type: ignore[arg-type]  # websockets sends an empty frame


# ---------------------------------------------------------------------- what this relies on

_CONNECTION_METHODS: dict[str, tuple[str, ...]] = {
    "connection_made": ("transport",),
    "connection_lost": ("exc",),
    "data_received": ("data",),
    "process_event": ("event",),
    "drain": (),
    "send": ("message", "text"),
    "close": ("code", "reason"),
    "send_data": (),
    "pause_writing": (),
    "resume_writing": (),
}
_CONNECTION_ATTRIBUTES = (
    "protocol",
    "transport",
    "loop",
    "recv_messages",
    "send_in_progress",
    "close_timeout",
)
_PROTOCOL_ATTRIBUTES = (
    "extensions",
    "expect_continuation_frame",
    "max_message_size",
    "max_fragment_size",
    "close_sent",
    "close_rcvd",
    "close_rcvd_then_sent",
    "state",
)
_PROTOCOL_METHODS: dict[str, tuple[str, ...]] = {"fail": ("code", "reason")}
_ASSEMBLER_METHODS: dict[str, tuple[str, ...]] = {"put": ("frame",), "close": ()}


def _missing_parameters(owner: type, methods: dict[str, tuple[str, ...]]) -> list[str]:
    missing = []
    for name, parameters in methods.items():
        method = getattr(owner, name, None)
        if not callable(method):
            missing.append(f"{owner.__qualname__}.{name}()")
            continue
        have = list(inspect.signature(method).parameters)[1:]  # without self
        if have[: len(parameters)] != list(parameters):
            missing.append(f"{owner.__qualname__}.{name}({', '.join(parameters)}), not {have}")
    return missing


def _has(instance: object, name: str) -> bool:
    """Set on the instance or defined on its class (`hasattr` would run a property)."""
    return name in vars(instance) or any(name in vars(cls) for cls in type(instance).__mro__)


def missing_internals(connection: Connection) -> list[str]:
    """What this adapter uses of `websockets` and the installed release lacks, checked on a
    live, open `connection` (instance attributes exist only there): empty when all is there."""
    missing = _missing_parameters(Connection, _CONNECTION_METHODS)
    missing += _missing_parameters(Assembler, _ASSEMBLER_METHODS)
    missing += _missing_parameters(Protocol, _PROTOCOL_METHODS)
    missing += [f"Connection.{n}" for n in _CONNECTION_ATTRIBUTES if not _has(connection, n)]
    protocol: Protocol = connection.protocol
    missing += [f"Protocol.{n}" for n in _PROTOCOL_ATTRIBUTES if not _has(protocol, n)]
    frame = Frame(Opcode.TEXT, b"")
    missing += [f"Frame.{name}" for name in ("opcode", "data", "fin") if not hasattr(frame, name)]
    return missing
