"""The plain HTTP routes that share the server's port with `/v1/realtime`.

- `GET /` (and the page's files): the voice page, from a fixed list of packaged files (no path
  from the request ever reaches the file system);
- `GET /health`: `{"status": "ok"}`;
- `POST /v1/realtime/client_secrets`: mint a short-lived client secret (authorised with the
  server's key when it has one), as OpenAI's GA endpoint does.

A WebSocket upgrade presenting an unknown or expired client secret is refused here with 401.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.utils import formatdate
from functools import cache
from http import HTTPStatus
from importlib.resources import files
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ..server.client_secrets import (
    ClientSecret,
    ClientSecretError,
    ClientSecretStore,
    looks_like_client_secret,
)
from ..server.handshake import token_matches
from ..server.ids import new_id

CLIENT_SECRETS_PATH: Final = "/v1/realtime/client_secrets"
STATIC_FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/audio.js": ("audio.js", "text/javascript; charset=utf-8"),
    "/audio-worklet.js": ("audio-worklet.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""Only this page's own files run; its WebSocket may go to any endpoint (`?url=`)."""


@cache
def static_file(name: str) -> bytes:
    """A packaged page file (read once)."""
    return (files("realtime_agents.web") / name).read_bytes()


def http_response(
    status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> Response:
    """A complete response that closes the connection."""
    headers = Headers(
        {
            "Date": formatdate(usegmt=True),
            "Connection": "close",
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
    )
    for key, value in (extra or {}).items():
        headers[key] = value
    return Response(status.value, status.phrase, headers, body)


def json_response(status: HTTPStatus | int, payload: dict[str, Any]) -> Response:
    """A JSON response."""
    return http_response(
        HTTPStatus(status), json.dumps(payload).encode(), "application/json; charset=utf-8"
    )


def error_response(status: HTTPStatus | int, code: str | None, message: str) -> Response:
    """An OpenAI-style JSON error."""
    return json_response(
        status,
        {
            "error": {
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": None,
            }
        },
    )


class WebRoutes:
    """Answers every plain HTTP request the server receives (anything but an upgrade to
    `/v1/realtime`)."""

    def __init__(
        self, api_key: str | None, secrets: ClientSecretStore, clock: Callable[[], float]
    ) -> None:
        self._api_key = api_key
        self.secrets = secrets
        self.clock = clock

    def respond(self, method: str, request: Request, body: bytes, token: str | None) -> Response:
        """The response to a plain HTTP request (`token`: the bearer token it presented)."""
        path = urlsplit(request.path).path
        if path.rstrip("/") == CLIENT_SECRETS_PATH:
            if method != "POST":
                return error_response(HTTPStatus.METHOD_NOT_ALLOWED, None, "Use POST.")
            return self._mint(body, token)
        if method != "GET":
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, None, "Use GET.")
        if path == "/health":
            return json_response(HTTPStatus.OK, {"status": "ok"})
        entry = STATIC_FILES.get(path)
        if entry is None:
            return http_response(
                HTTPStatus.NOT_FOUND,
                b"Not found: the voice page is at /, the realtime API at /v1/realtime\n",
                "text/plain; charset=utf-8",
            )
        name, content_type = entry
        return http_response(
            HTTPStatus.OK,
            static_file(name),
            content_type,
            {"Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )

    def refuse_upgrade(self, token: str | None) -> Response | None:
        """401 for a WebSocket upgrade with an unknown or expired client secret, else None
        (the session's own authentication judges every other token)."""
        if self._api_key is None or token is None or not looks_like_client_secret(token):
            return None
        if self.secrets.check(token, self.clock()) is not None:
            return None
        return error_response(
            HTTPStatus.UNAUTHORIZED,
            "invalid_client_secret",
            "The client secret is unknown or has expired; mint a new one.",
        )

    def accepts(self, token: str) -> bool:
        """Whether `token` is a live client secret."""
        if not looks_like_client_secret(token):
            return False
        return self.secrets.check(token, self.clock()) is not None

    def _mint(self, body: bytes, token: str | None) -> Response:
        expected = self._api_key
        if expected is not None and (
            token is None or looks_like_client_secret(token) or not token_matches(token, expected)
        ):
            return error_response(
                HTTPStatus.UNAUTHORIZED,
                "invalid_api_key",
                "Minting a client secret needs the server's API key as a bearer token.",
            )
        try:
            request = json.loads(body) if body.strip() else None
        except ValueError:
            return error_response(HTTPStatus.BAD_REQUEST, "invalid_json", "The body is not JSON.")
        minted = self.secrets.mint(request, self.clock())
        if isinstance(minted, ClientSecretError):
            return json_response(minted.status, minted.body())
        return json_response(HTTPStatus.OK, _mint_response(minted))


def _mint_response(secret: ClientSecret) -> dict[str, Any]:
    session = dict(secret.session)
    kind = "realtime.session" if session["type"] == "realtime" else "realtime.transcription_session"
    session.setdefault("object", kind)
    session.setdefault("id", new_id("sess"))
    session.setdefault("expires_at", secret.expires_at)
    return {"value": secret.value, "expires_at": secret.expires_at, "session": session}
