"""Where and how the OpenAI provider connects: the URL, and the WebSocket transport options."""

from __future__ import annotations

import random
from typing import Any, TypedDict
from urllib.parse import urlencode, urlsplit

from ...model import RealtimeModelConfig, ReconnectPolicy

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_BASE_URL = "wss://api.openai.com/v1/realtime"
RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
OWN_CLOSE_MEANINGS = {
    1002: "the server broke the WebSocket protocol",
    1007: "the server sent a text message that is not valid UTF-8",
    1009: "the server sent a message larger than max_size",
}
"""Why this client fails a connection, by the close code it sends."""
RECOVERABLE_OWN_CLOSE_CODES = frozenset({1007})
"""Codes this client fails a connection with that a reconnect may cure (a corrupt frame)."""
USER_AGENT = "realtime-agents/0.1 (python)"


class TransportOptions(TypedDict, total=False):
    """WebSocket settings; every one has a bounded default."""

    ping_interval: float | None
    """Seconds between keepalive pings (default 20; None disables)."""
    ping_timeout: float | None
    """Seconds to wait for a pong before dropping the connection (default 20)."""
    open_timeout: float
    """Seconds to open the socket and receive `session.created` (default 10)."""
    close_timeout: float
    """Seconds to wait for the closing handshake (default 5)."""
    write_timeout: float | None
    """Seconds the server may read nothing of this side's writes while the write buffer is
    over its high-water mark (meanwhile nothing is read either) before the connection is
    dropped as stalled, close code 1011 (default 20; None: back-pressure only)."""
    max_size: int
    """Largest incoming frame in bytes (default 16 MiB)."""
    max_queue: int
    """Frames `websockets` buffers before it stops reading the socket (default 256: fewer
    pause/resume cycles during an audio burst than websockets' 16; ~0.7 MiB of audio frames)."""
    compression: bool
    """Offer permessage-deflate (default False: saves CPU on audio, which barely compresses)."""
    proxy: str | bool | None
    """Proxy as `websockets` takes it (default True: from the environment)."""
    user_agent: str


TRANSPORT_DEFAULTS: dict[str, Any] = {
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "open_timeout": 10.0,
    "close_timeout": 5.0,
    "write_timeout": 20.0,
    "max_size": 16 * 1024 * 1024,
    "max_queue": 256,
    "compression": False,
    "proxy": True,
    "user_agent": USER_AGENT,
}


def build_url(options: RealtimeModelConfig) -> str:
    """The URL to connect to: `url`, else the OpenAI endpoint with `model` or `call_id`."""
    call_id = options.get("call_id")
    settings = options.get("initial_model_settings") or {}
    model = settings.get("model_name")
    if call_id and model:
        raise ValueError("give either call_id (attach to a call) or model_name, not both")
    url = options.get("url")
    if url is None:
        query = {"call_id": call_id} if call_id else {"model": model or DEFAULT_MODEL}
        return f"{DEFAULT_BASE_URL}?{urlencode(query)}"
    if call_id:
        separator = "&" if urlsplit(url).query else "?"
        return f"{url}{separator}{urlencode({'call_id': call_id})}"
    return url


def backoff_delay(policy: ReconnectPolicy, attempt: int) -> float:
    """Seconds to wait before reconnect `attempt` (1, 2, ...): exponential, with jitter."""
    initial = float(policy.get("initial_backoff_s", 0.25))
    delay = min(float(policy.get("max_backoff_s", 8.0)), initial * 2.0 ** (attempt - 1))
    jitter = min(max(policy.get("jitter", 0.2), 0.0), 1.0)
    return max(0.0, delay * (1 + jitter * random.uniform(-1.0, 1.0)))
