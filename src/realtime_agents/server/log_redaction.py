"""The logger the server hands to `websockets`: its debug lines (request headers, the key
subprotocol, the request path) pass through `redaction` before they are written, and a
refused handshake (a malformed request, an HTTP/1.0 health check, a port scanner) is one info
line rather than an error with a traceback (the traceback only at debug level)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

from ..redaction import redact_text, redact_url


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A `logging.LoggerAdapter` that formats each message and hides secrets in it: the given
    keys, auth header values (`Authorization`, `api-key`, the `openai-insecure-api-key.`
    subprotocol) and query values of request paths."""

    def __init__(self, logger: logging.Logger, secrets: Iterable[str]) -> None:
        super().__init__(logger, {})
        self.secrets = tuple(secret for secret in secrets if secret)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if msg == "opening handshake failed" and kwargs.get("exc_info"):
            # The client's mistake, already answered (400) by websockets: not a server error.
            error = sys.exc_info()[1]
            cause = error.__cause__ if error is not None else None
            # The cause's text up to its first ": " (what follows quotes the request itself).
            reason = f" ({str(cause).split(': ', 1)[0]})" if cause is not None else ""
            level = logging.INFO
            msg = f"opening handshake failed: {type(error).__name__}: {error}{reason}"
            kwargs["exc_info"] = self.isEnabledFor(logging.DEBUG)
        if not self.isEnabledFor(level):
            return
        values = tuple(
            redact_url(arg) if isinstance(arg, str) and arg.startswith("/") else arg for arg in args
        )
        try:
            text = str(msg) % values if values else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *values))
        text = redact_text(text, self.secrets)
        # Bytes that arrived as non-ASCII are lone surrogates here: escaped, so no log handler
        # fails to encode the line.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        kwargs.setdefault("stacklevel", 3)
        self.logger.log(level, "%s", text, **kwargs)


def websockets_logger(secrets: Iterable[str]) -> RedactingLogger:
    """The redacting logger for the server's `websockets` connections."""
    return RedactingLogger(logging.getLogger("websockets.server"), secrets)
