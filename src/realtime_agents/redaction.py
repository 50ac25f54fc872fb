"""Keeping secrets out of URLs and messages: one policy for the whole library.

A URL loses its user information and fragment, and every query value except known-harmless
ones; text loses each known secret and the values of auth headers. The placeholder is `***`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url"]

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
