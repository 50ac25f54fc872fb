"""What a client presents when it connects: its API key and its query parameters.

`websockets` keeps the bytes of the request line and headers that are not ASCII as lone
surrogates (`surrogateescape`); they are compared and checked here as the bytes they were, so
a key or a `?model=` with such bytes gets the usual `error` event (401-style
`invalid_api_key`, or `invalid_request_error`), never an exception.
"""

from __future__ import annotations

import hmac
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .errors import error_event

KEY_SUBPROTOCOL = "openai-insecure-api-key."
"""The browser subprotocol that carries the API key: `openai-insecure-api-key.<key>`."""


def presented_token(headers: Headers) -> str | None:
    """The API key from `Authorization: Bearer`, `api-key` or the key subprotocol."""
    authorization = headers.get("Authorization")
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    if headers.get("api-key"):
        return headers["api-key"]
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for protocol in value.split(","):
            protocol = protocol.strip()
            if protocol.startswith(KEY_SUBPROTOCOL):
                return protocol[len(KEY_SUBPROTOCOL) :]
    return None


def _raw_bytes(text: str) -> bytes:
    """The bytes a header value or URL arrived as (non-ASCII ones kept as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def token_matches(token: str, expected: str) -> bool:
    """Constant-time comparison of the presented key's bytes with the server's key."""
    return hmac.compare_digest(_raw_bytes(token), expected.encode("utf-8"))


def query_parameters(path: str) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    """The request's query parameters, or the `error` event refusing a query that is not
    UTF-8 (raw non-ASCII bytes must be percent-encoded, and decode as UTF-8)."""
    query = urlsplit(path).query
    try:
        text = _raw_bytes(query).decode("utf-8")
    except UnicodeDecodeError as error:
        return {}, _not_utf8(error.start)
    try:
        return parse_qs(text, errors="strict"), None
    except UnicodeDecodeError as error:  # percent-encoded bytes that are not UTF-8
        return {}, _not_utf8(error.start)


def _not_utf8(position: int) -> dict[str, Any]:
    return error_event(
        "invalid_value",
        f"Invalid query string: the bytes at position {position} are not UTF-8 (percent-encode "
        "UTF-8 text, e.g. ?model=local).",
    )


_PARSED_HEADERS = ("connection", "upgrade", "origin")
"""Besides the `Sec-WebSocket-*` headers, those `websockets` parses itself during the upgrade."""


def malformed_upgrade_header(headers: Headers) -> str | None:
    """The name of an upgrade header `websockets` would parse that holds non-ASCII bytes (a
    400 for the client: `websockets` would fail on it while building its own refusal)."""
    for name, value in headers.raw_items():
        lowered = name.lower()
        parsed = lowered.startswith("sec-websocket-") or lowered in _PARSED_HEADERS
        if parsed and not value.isascii():
            return name
    return None


def malformed_upgrade_response(connection: ServerConnection, request: Request) -> Response | None:
    """The 400 for a request with a non-ASCII upgrade header (`malformed_upgrade_header`)."""
    malformed = malformed_upgrade_header(request.headers)
    if malformed is None:
        return None
    return connection.respond(
        HTTPStatus.BAD_REQUEST, f"Invalid {malformed} header: it must be ASCII.\n"
    )
