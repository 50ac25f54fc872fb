"""Session settings in the GA shape; the older flat keys are accepted and normalised here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, TypedDict, cast

from .audio import ga_audio_format, normalize_audio_format

AudioFormatSpec: TypeAlias = str | Mapping[str, Any]
"""`"pcm16"`, `"g711_ulaw"`, `"g711_alaw"`, or a GA mapping like `{"type": "audio/pcm"}`."""

Modality: TypeAlias = Literal["text", "audio"]


class TranscriptionConfig(TypedDict, total=False):
    """Input audio transcription: model name and optional language and prompt."""

    model: str
    language: str | None
    prompt: str | None


class NoiseReductionConfig(TypedDict, total=False):
    """Input noise reduction."""

    type: Literal["near_field", "far_field"]


class TurnDetectionConfig(TypedDict, total=False):
    """Server-side turn detection (`server_vad` or `semantic_vad`)."""

    type: Literal["server_vad", "semantic_vad"]
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    idle_timeout_ms: int | None
    create_response: bool
    interrupt_response: bool
    eagerness: Literal["auto", "low", "medium", "high"]


class AudioInputConfig(TypedDict, total=False):
    """The `audio.input` block."""

    format: AudioFormatSpec
    transcription: TranscriptionConfig | None
    noise_reduction: NoiseReductionConfig | None
    turn_detection: TurnDetectionConfig | None


class AudioOutputConfig(TypedDict, total=False):
    """The `audio.output` block."""

    format: AudioFormatSpec
    voice: str | Mapping[str, str]
    speed: float


class AudioConfig(TypedDict, total=False):
    """The `audio` block."""

    input: AudioInputConfig
    output: AudioOutputConfig


class _FunctionToolRequired(TypedDict):
    type: Literal["function"]
    name: str


class FunctionToolDefinition(_FunctionToolRequired, total=False):
    """A function tool as the model sees it."""

    description: str
    parameters: Mapping[str, Any]


class TracingConfig(TypedDict, total=False):
    """Server-side tracing options."""

    workflow_name: str
    group_id: str
    metadata: Mapping[str, Any]


ToolChoice: TypeAlias = str | Mapping[str, Any]


class RealtimeSessionModelSettings(TypedDict, total=False):
    """Settings sent to the model: the GA shape, plus flat keys `normalize_settings` folds in."""

    model_name: str
    instructions: str
    output_modalities: list[Modality]
    audio: AudioConfig
    tools: list[FunctionToolDefinition]
    tool_choice: ToolChoice
    max_output_tokens: int | Literal["inf"]
    tracing: TracingConfig | Literal["auto"] | None
    # Older flat keys (beta shape), accepted and normalised:
    modalities: list[Modality]
    voice: str | Mapping[str, str]
    speed: float
    input_audio_format: AudioFormatSpec
    output_audio_format: AudioFormatSpec
    input_audio_transcription: TranscriptionConfig | None
    input_audio_noise_reduction: NoiseReductionConfig | None
    turn_detection: TurnDetectionConfig | None
    max_response_output_tokens: int | Literal["inf"]


_FLAT_INPUT_KEYS: dict[str, str] = {
    "input_audio_format": "format",
    "input_audio_transcription": "transcription",
    "input_audio_noise_reduction": "noise_reduction",
    "turn_detection": "turn_detection",
}
_FLAT_OUTPUT_KEYS: dict[str, str] = {
    "output_audio_format": "format",
    "voice": "voice",
    "speed": "speed",
}
_CAMEL_TURN_KEYS: dict[str, str] = {
    "prefixPaddingMs": "prefix_padding_ms",
    "silenceDurationMs": "silence_duration_ms",
    "idleTimeoutMs": "idle_timeout_ms",
    "createResponse": "create_response",
    "interruptResponse": "interrupt_response",
}


def _normalize_turn_detection(value: Mapping[str, Any] | None) -> TurnDetectionConfig | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"turn_detection must be a mapping or None, got {type(value).__name__}")
    return cast(TurnDetectionConfig, {_CAMEL_TURN_KEYS.get(k, k): v for k, v in value.items()})


def normalize_settings(settings: Mapping[str, Any]) -> RealtimeSessionModelSettings:
    """Return the GA shape: flat keys folded into `audio.input`/`audio.output`, formats as GA dicts.

    Nested GA values win over their flat aliases. The input is not modified.
    """
    result: dict[str, Any] = {}
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    for key, value in settings.items():
        if key in _FLAT_INPUT_KEYS:
            audio_in[_FLAT_INPUT_KEYS[key]] = value
        elif key in _FLAT_OUTPUT_KEYS:
            audio_out[_FLAT_OUTPUT_KEYS[key]] = value
        elif key == "modalities":
            result.setdefault("output_modalities", list(value))
        elif key == "max_response_output_tokens":
            result.setdefault("max_output_tokens", value)
        elif key != "audio":
            result[key] = value
    nested = settings.get("audio") or {}
    audio_in.update(nested.get("input") or {})
    audio_out.update(nested.get("output") or {})
    if "format" in audio_in:
        audio_in["format"] = ga_audio_format(normalize_audio_format(audio_in["format"]))
    if "format" in audio_out:
        audio_out["format"] = ga_audio_format(normalize_audio_format(audio_out["format"]))
    if "turn_detection" in audio_in:
        audio_in["turn_detection"] = _normalize_turn_detection(audio_in["turn_detection"])
    modalities = result.get("output_modalities")
    if modalities is not None and "audio" in modalities and "text" in modalities:
        # GA allows one output modality; audio always carries its transcript as text.
        result["output_modalities"] = ["audio"]
    audio: dict[str, Any] = {}
    if audio_in:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        result["audio"] = audio
    return cast(RealtimeSessionModelSettings, result)


def merge_settings(
    base: Mapping[str, Any], override: Mapping[str, Any]
) -> RealtimeSessionModelSettings:
    """Normalise both and merge `override` over `base`, merging the `audio` blocks key by key."""
    merged: dict[str, Any] = dict(normalize_settings(base))
    extra = normalize_settings(override)
    for key, value in extra.items():
        if key == "audio" and "audio" in merged:
            audio = {k: dict(v) for k, v in merged["audio"].items()}
            for side, block in cast(Mapping[str, Mapping[str, Any]], value).items():
                audio.setdefault(side, {}).update(block)
            merged["audio"] = audio
        else:
            merged[key] = value
    return cast(RealtimeSessionModelSettings, merged)
