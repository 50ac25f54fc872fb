"""Shared fixtures for the engine tests: the embedded models load once per test session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib.resources import files

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents.audio import pcm16_to_float32, read_wav, resample_pcm16
from realtime_agents.server.engines.base import EngineSet, Float32Array


def bundled_question(name: str, sample_rate: int = 16_000) -> Float32Array:
    """A bundled spoken question (`weather` or `capital`) as float32 at `sample_rate`."""
    path = files("realtime_agents") / "data" / f"question_{name}.wav"
    pcm, rate = read_wav(str(path))
    return pcm16_to_float32(resample_pcm16(pcm, rate, sample_rate))


QuestionLoader = Callable[..., Float32Array]


@pytest.fixture(scope="session")
def question() -> QuestionLoader:
    """Loads a bundled spoken question: `question("capital", sample_rate=16000)`."""
    return bundled_question


@pytest.fixture(scope="session")
def embedded() -> Iterator[EngineSet]:
    """The embedded engine set (silero, whisper, SmolLM2, piper), loaded once."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from realtime_agents.server.engines.loader import load_engines

    yield load_engines("embedded", {})
