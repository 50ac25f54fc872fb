"""`realtime-agents talk`: a conversation from WAV files end to end, and how it fails and stops."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from talk_helpers import question_path

from realtime_agents.audio import pcm16_to_float32, resample_pcm16
from realtime_agents.server.engines.base import EngineSet
from realtime_agents.talk import command

SOURCE = str(Path(command.__file__).resolve().parents[2])


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SOURCE, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "realtime_agents.cli", "talk", *args],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip


def has_audio_device() -> bool:
    if importlib.util.find_spec("sounddevice") is None:
        return False
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
        sounddevice.query_devices(kind="output")
    except Exception:  # no PortAudio, or no device
        return False
    return True


def test_without_an_audio_device_talk_says_so_in_one_line() -> None:
    if importlib.util.find_spec("sounddevice") is None:
        pytest.skip("the [talk] extra (sounddevice) is not installed")
    if has_audio_device():
        pytest.skip("this machine has a microphone and a speaker")
    done = run_cli()
    assert done.returncode == 2
    assert done.stdout == ""  # it failed before loading any model
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: no audio device")
    assert "--input-wav" in lines[0] and "--output-wav" in lines[0]


def test_a_missing_sounddevice_names_the_talk_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert command.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "pip install 'realtime-agents[talk]'" in captured.err


def test_file_options_need_an_input_wav(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="need --input-wav"):
        command.main(["--output-wav", "reply.wav"])


def test_ctrl_c_ends_talk_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SOURCE, "HF_HUB_OFFLINE": "1"}
    question = question_path("capital")
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_agents.cli", "talk", "--engines", "scripted",
         "--no-aec", "--input-wav", question, "--input-wav", question,
         "--output-wav", str(tmp_path / "reply.wav")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("you:"):  # in the middle of the conversation
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "stopped (Ctrl-C)" in err
    assert "Traceback" not in err and "Traceback" not in out
    assert (tmp_path / "reply.wav").exists()  # the files were closed on the way out


def test_talk_holds_a_conversation_from_a_wav(
    embedded: EngineSet,
    livekit_rtc: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reply = tmp_path / "a.wav"
    # Open speakers: the reply comes back into the "microphone" 80 ms later, 6 dB quieter.
    argv = ["--input-wav", question_path("weather"), "--input-wav", question_path("capital"),
            "--output-wav", str(reply), "--echo-path", "80:6"]  # fmt: skip
    assert command.main(argv) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    you = [line for line in lines if line.startswith("you:")]
    assert len(you) == 2, printed
    assert "weather" in you[0].lower() and "paris" in you[0].lower()
    assert "capital" in you[1].lower() and "france" in you[1].lower()
    assert 'tool:      get_weather({"city": "Paris"}) -> ' in printed
    assistant = [line for line in lines if line.startswith("assistant:")]
    assert len(assistant) == 2 and all(len(line) > len("assistant: ") + 5 for line in assistant)
    assert sum(line.startswith("latency:") for line in lines) == 2
    assert "echo cancellation: webrtc-aec3" in printed
    assert "spoke over the assistant" not in printed  # its own echo did not interrupt it
    with wave.open(str(reply)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = samples[np.abs(samples.astype(np.int32)) > 0.02 * 32768]
    assert loud.size / 24_000 > 0.5  # more than half a second of voiced audio
    heard = embedded.stt.transcribe(
        pcm16_to_float32(resample_pcm16(pcm, 24_000, embedded.stt.sample_rate))
    )
    assert "paris" in heard.lower(), heard


def test_an_unreachable_endpoint_is_one_line_without_the_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--url", f"ws://127.0.0.1:{port}/v1/realtime", "--api-key", "sk-very-secret",
            "--no-aec", "--input-wav", question_path("capital")]  # fmt: skip
    assert command.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "could not connect" in captured.err
    assert "sk-very-secret" not in captured.err
