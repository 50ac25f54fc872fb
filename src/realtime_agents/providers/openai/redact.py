"""Keeping secrets out of URLs, messages and log lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SAFE_QUERY_KEYS = frozenset({"model", "call_id", "intent", "api-version", "deployment"})
_HEADER_LINE = re.compile(
    r"(?i)\b(authorization|api-key|x-api-key|openai-insecure-api-key)(\s*[:=]\s*|\.)\S.*"
)


def redact_url(url: str) -> str:
    """The URL with credentials and every query value except known-harmless ones hidden."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = urlencode(
            [
                (key, value if key in _SAFE_QUERY_KEYS else "***")
                for key, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<unparseable url>"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (at least 4 characters long) and auth header values hidden."""
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return _HEADER_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:
    _LoggerAdapter = logging.LoggerAdapter


class RedactingLogger(_LoggerAdapter):
    """A logger for `websockets` that hides secrets its debug output would contain (headers)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self.secrets: tuple[str, ...] = ()

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        kwargs.pop("exc_info", None)  # tracebacks could carry request headers
        self.logger.log(level, "%s", redact_text(text, self.secrets), **kwargs)
