"""The library's one adapter to `websockets` internals (what its documentation does not promise).

Nothing outside this package touches them. `connection` holds the direct connections (data
frames split, delivered and written here); `internals` the few accessors other modules need
and `missing_internals`, which lists what a `websockets` release lacks of all this package
uses; `request_bodies` lets the server's handshake read a small POST body (checked by
`missing_request_body_internals`). `SUPPORTED_WEBSOCKETS` is the range it is tested on;
pyproject.toml pins the same.
"""

from __future__ import annotations

from .connection import DirectClientConnection, DirectServerConnection, Sink, frame_head
from .internals import (
    SUPPORTED_WEBSOCKETS,
    close_without_status,
    missing_internals,
    transport_of,
    websockets_version,
)

__all__ = [
    "SUPPORTED_WEBSOCKETS",
    "DirectClientConnection",
    "DirectServerConnection",
    "Sink",
    "close_without_status",
    "frame_head",
    "missing_internals",
    "transport_of",
    "websockets_version",
]
