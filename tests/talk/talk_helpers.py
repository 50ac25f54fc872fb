"""Helpers for the `talk` tests."""

from __future__ import annotations

from importlib.resources import files


def question_path(name: str) -> str:
    """The path of a bundled spoken question (`weather` or `capital`)."""
    return str(files("realtime_agents") / "data" / f"question_{name}.wav")
