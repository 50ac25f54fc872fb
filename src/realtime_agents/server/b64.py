"""Base64 for audio payloads with SIMD `pybase64`, giving exactly the stdlib's results.

`decode_strict` equals `base64.b64decode(text, validate=True)` and `encode` equals
`base64.b64encode(data).decode()`.
"""

from __future__ import annotations

import binascii

import pybase64


def decode_strict(text: str) -> bytes:
    """Standard padded base64; raises `binascii.Error` or `ValueError` when invalid."""
    try:
        return bytes(pybase64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        pass  # pybase64 is stricter on surplus padding: the stdlib decides
    return binascii.a2b_base64(text, strict_mode=True)


def encode(data: bytes) -> str:
    """Standard padded base64 text."""
    return str(pybase64.b64encode_as_string(data))
