"""The base class of the exceptions the library raises.

`except RealtimeAgentsError` catches any of them; each also keeps its built-in base
(`AudioFormatError` is still a `ValueError`, `RealtimeConnectionError` a `ConnectionError`).
"""

from __future__ import annotations

__all__ = ["RealtimeAgentsError"]


class RealtimeAgentsError(Exception):
    """Base of every exception class defined in `realtime_agents`."""
