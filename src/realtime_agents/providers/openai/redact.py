"""Redaction for the provider: the library's one policy (`realtime_agents.redaction`), and a
logger for `websockets` that applies it."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from ...redaction import redact_text, redact_url

__all__ = ["RedactingLogger", "redact_text", "redact_url"]


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
