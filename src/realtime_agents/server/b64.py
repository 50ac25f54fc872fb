"""Base64 for audio payloads: SIMD `pybase64` when installed (extra 'fast'), else the stdlib.

Both functions give exactly the stdlib's results (`base64.b64decode(text, validate=True)`,
`base64.b64encode(data).decode()`); pybase64 is only the fast path.
"""

from __future__ import annotations

import binascii
import importlib
from typing import Any

_fast: Any
try:
    _fast = importlib.import_module("pybase64")
except ImportError:  # pragma: no cover - depends on the installed extras
    _fast = None


def decode_strict(text: str) -> bytes:
    """Standard padded base64; raises `binascii.Error` or `ValueError` when invalid."""
    if _fast is not None:
        try:
            return bytes(_fast.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            pass  # pybase64 is stricter on surplus padding: the stdlib decides
    return binascii.a2b_base64(text, strict_mode=True)


def encode(data: bytes) -> str:
    """Standard padded base64 text."""
    if _fast is not None:
        return str(_fast.b64encode_as_string(data))
    return binascii.b2a_base64(data, newline=False).decode("ascii")
