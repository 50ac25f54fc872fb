"""Short-lived client secrets (`ek_...`): OpenAI's GA ephemeral key flow, without I/O.

A backend holding the server's long-lived key mints a secret with
`POST /v1/realtime/client_secrets`; a browser then connects with it (as the
`openai-insecure-api-key.<secret>` subprotocol) and never sees the long-lived key. A secret
opens any number of sessions until it expires; after that it is refused.

The store is bounded: at most `max_secrets` live secrets (expired ones are swept when the store
is full and every `sweep_every` mints), and a full store refuses to mint rather than evicting a
secret someone may be using. Secrets are looked up by their SHA-256 and compared in constant
time. Times are Unix seconds passed in by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PREFIX: Final = "ek_"
MIN_SECONDS: Final = 10
MAX_SECONDS: Final = 7200
DEFAULT_SECONDS: Final = 600


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A minted secret: its `value`, when it expires, and the session it was minted for."""

    value: str = field(repr=False)
    expires_at: int
    session: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"ClientSecret(value='ek_...', expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class ClientSecretError:
    """Why a mint request was refused: an HTTP status and an OpenAI-style error."""

    status: int
    code: str
    message: str
    param: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON error body OpenAI's REST API returns."""
        return {
            "error": {
                "type": "invalid_request_error",
                "code": self.code,
                "message": self.message,
                "param": self.param,
            }
        }


def looks_like_client_secret(token: str) -> bool:
    """Whether a presented token claims to be a client secret (not a long-lived key)."""
    return token.startswith(PREFIX)


def _token_bytes(value: str) -> bytes:
    """A presented token as bytes (header bytes that were not UTF-8 arrive as surrogates)."""
    return value.encode("utf-8", "surrogatepass")


def _digest(value: str) -> bytes:
    return hashlib.sha256(_token_bytes(value)).digest()


class ClientSecretStore:
    """Live client secrets, bounded in number."""

    def __init__(self, max_secrets: int = 10_000, sweep_every: int = 64) -> None:
        if max_secrets < 1:
            raise ValueError("max_secrets must be at least 1")
        self.max_secrets = max_secrets
        self.sweep_every = sweep_every
        self._secrets: dict[bytes, ClientSecret] = {}
        self._mints_since_sweep = 0

    def __len__(self) -> int:
        return len(self._secrets)

    def mint(self, request: object, now: float) -> ClientSecret | ClientSecretError:
        """A new secret for a `POST /v1/realtime/client_secrets` body (parsed JSON), or why not.

        The body is `{"expires_after": {"anchor": "created_at", "seconds": N},
        "session": {...}}`, both optional; `seconds` is 10-7200 (default 600)."""
        parsed = _parse_request(request)
        if isinstance(parsed, ClientSecretError):
            return parsed
        seconds, session = parsed
        self._mints_since_sweep += 1
        if len(self._secrets) >= self.max_secrets or self._mints_since_sweep >= self.sweep_every:
            self.sweep(now)
        if len(self._secrets) >= self.max_secrets:
            return ClientSecretError(
                429,
                "too_many_client_secrets",
                f"This server already holds {self.max_secrets} live client secrets; "
                "try again when some have expired.",
            )
        value = PREFIX + secrets.token_hex(16)
        secret = ClientSecret(value, int(now) + seconds, session)
        self._secrets[_digest(value)] = secret
        return secret

    def check(self, token: str, now: float) -> ClientSecret | None:
        """The live secret `token` names, or None (unknown or expired: refuse it)."""
        key = _digest(token)
        secret = self._secrets.get(key)
        if secret is None or not hmac.compare_digest(
            _token_bytes(secret.value), _token_bytes(token)
        ):
            return None
        if now >= secret.expires_at:
            del self._secrets[key]
            return None
        return secret

    def sweep(self, now: float) -> int:
        """Forget every expired secret; returns how many."""
        self._mints_since_sweep = 0
        expired = [key for key, secret in self._secrets.items() if now >= secret.expires_at]
        for key in expired:
            del self._secrets[key]
        return len(expired)


def _parse_request(request: object) -> tuple[int, dict[str, Any]] | ClientSecretError:
    if request is None:
        request = {}
    if not isinstance(request, dict):
        return ClientSecretError(400, "invalid_type", "The request body must be a JSON object.")
    unknown = sorted(set(request) - {"expires_after", "session"})
    if unknown:
        return ClientSecretError(
            400, "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", unknown[0]
        )
    seconds = DEFAULT_SECONDS
    expires_after = request.get("expires_after")
    if expires_after is not None:
        if not isinstance(expires_after, dict):
            return ClientSecretError(
                400, "invalid_type", "'expires_after' must be an object.", "expires_after"
            )
        anchor = expires_after.get("anchor", "created_at")
        if anchor != "created_at":
            return ClientSecretError(
                400,
                "invalid_value",
                f"Invalid value: {anchor!r}. Supported values are: 'created_at'.",
                "expires_after.anchor",
            )
        value = expires_after.get("seconds", DEFAULT_SECONDS)
        if isinstance(value, bool) or not isinstance(value, int):
            return ClientSecretError(
                400,
                "invalid_type",
                "'expires_after.seconds' must be an integer.",
                "expires_after.seconds",
            )
        if not MIN_SECONDS <= value <= MAX_SECONDS:
            return ClientSecretError(
                400,
                "invalid_value",
                f"'expires_after.seconds' must be between {MIN_SECONDS} and {MAX_SECONDS}.",
                "expires_after.seconds",
            )
        seconds = value
    session = request.get("session")
    if session is None:
        session = {"type": "realtime"}
    if not isinstance(session, dict):
        return ClientSecretError(400, "invalid_type", "'session' must be an object.", "session")
    session_type = session.get("type", "realtime")
    if session_type not in ("realtime", "transcription"):
        return ClientSecretError(
            400,
            "invalid_value",
            f"Invalid value: {session_type!r}. Supported values are: 'realtime' and "
            "'transcription'.",
            "session.type",
        )
    return seconds, {**session, "type": session_type}
