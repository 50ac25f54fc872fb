"""Identifiers in the shapes OpenAI uses: `event_…`, `sess_…`, `resp_…`, `item_…`, `call_…`."""

from __future__ import annotations

import os
import secrets
import string
import threading

_ALPHABET = string.ascii_letters + string.digits
_TO_BASE62 = bytes(ord(_ALPHABET[byte % 62]) for byte in range(256))
"""Byte -> base62 character, for `bytes.translate` (same mapping as `_ALPHABET[byte % 62]`)."""
_POOL_BYTES = 4096
_lock = threading.Lock()
_pool = b""
_used = 0


def _random_bytes(count: int) -> bytes:
    """`count` bytes from the OS CSPRNG, drawn in blocks (one syscall per ~190 ids)."""
    global _pool, _used
    with _lock:
        if _used + count > len(_pool):
            _pool, _used = secrets.token_bytes(max(_POOL_BYTES, count)), 0
        start = _used
        _used += count
        return _pool[start:_used]


def _forget_pool() -> None:
    """A forked child must not hand out the same bytes as its parent."""
    global _pool, _used
    _pool, _used = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def new_id(prefix: str, length: int = 21) -> str:
    """A random id such as `item_Ct1Ok0wNRMw8wizhpPAD3` (base62 suffix)."""
    return prefix + "_" + _random_bytes(length).translate(_TO_BASE62).decode("ascii")


def new_call_id() -> str:
    """A function call id such as `call_9Q9eysr6LstYMEx6` (16-char suffix)."""
    return new_id("call", 16)
