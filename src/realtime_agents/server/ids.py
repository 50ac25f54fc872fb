"""Identifiers in the shapes OpenAI uses: `event_…`, `sess_…`, `resp_…`, `item_…`, `call_…`."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 21) -> str:
    """A random id such as `item_Ct1Ok0wNRMw8wizhpPAD3` (base62 suffix)."""
    return prefix + "_" + "".join(_ALPHABET[byte % 62] for byte in secrets.token_bytes(length))


def new_call_id() -> str:
    """A function call id such as `call_9Q9eysr6LstYMEx6` (16-char suffix)."""
    return new_id("call", 16)
