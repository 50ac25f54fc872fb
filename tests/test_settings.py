"""normalize_settings and merge_settings: flat keys fold into the GA shape, GA wins, idempotent."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime_agents import merge_settings, normalize_settings

PCM = {"type": "audio/pcm", "rate": 24000}
PCMU = {"type": "audio/pcmu"}
PCMA = {"type": "audio/pcma"}
FLAT_KEYS = {
    "voice",
    "speed",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "turn_detection",
    "modalities",
    "max_response_output_tokens",
}


@pytest.mark.parametrize(
    ("flat", "expected"),
    [
        ({"voice": "alloy"}, {"audio": {"output": {"voice": "alloy"}}}),
        ({"speed": 1.25}, {"audio": {"output": {"speed": 1.25}}}),
        ({"input_audio_format": "pcm16"}, {"audio": {"input": {"format": PCM}}}),
        ({"output_audio_format": "g711_ulaw"}, {"audio": {"output": {"format": PCMU}}}),
        (
            {"input_audio_transcription": {"model": "whisper-1", "language": "en"}},
            {"audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}}},
        ),
        (
            {"input_audio_noise_reduction": {"type": "near_field"}},
            {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
        ),
        (
            {"turn_detection": {"type": "server_vad", "threshold": 0.6}},
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.6}}}},
        ),
        ({"turn_detection": None}, {"audio": {"input": {"turn_detection": None}}}),
        ({"modalities": ["text"]}, {"output_modalities": ["text"]}),
        ({"modalities": ["text", "audio"]}, {"output_modalities": ["audio"]}),
        ({"max_response_output_tokens": 200}, {"max_output_tokens": 200}),
        ({"max_response_output_tokens": "inf"}, {"max_output_tokens": "inf"}),
    ],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else "",
)
def test_each_flat_key_folds_into_the_ga_shape(
    flat: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert normalize_settings(flat) == expected


def test_other_keys_pass_through() -> None:
    settings = {"instructions": "be brief", "model_name": "m", "tools": [], "tool_choice": "auto"}
    assert normalize_settings(settings) == settings


def test_all_flat_keys_together() -> None:
    normalized = normalize_settings(
        {
            "instructions": "hi",
            "voice": "marin",
            "speed": 1.1,
            "input_audio_format": "g711_alaw",
            "output_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper-1"},
            "input_audio_noise_reduction": None,
            "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
            "modalities": ["audio"],
            "max_response_output_tokens": 50,
        }
    )
    assert normalized == {
        "instructions": "hi",
        "output_modalities": ["audio"],
        "max_output_tokens": 50,
        "audio": {
            "input": {
                "format": PCMA,
                "transcription": {"model": "whisper-1"},
                "noise_reduction": None,
                "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
            },
            "output": {"format": PCM, "voice": "marin", "speed": 1.1},
        },
    }
    assert not FLAT_KEYS & set(normalized)


@pytest.mark.parametrize("ga_first", [True, False], ids=["ga-first", "flat-first"])
def test_ga_values_win_over_flat_aliases_in_any_order(ga_first: bool) -> None:
    ga = {
        "audio": {"input": {"format": "audio/pcmu"}, "output": {"voice": "marin"}},
        "output_modalities": ["text"],
        "max_output_tokens": 10,
    }
    flat = {
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "speed": 0.9,
        "modalities": ["audio"],
        "max_response_output_tokens": 99,
    }
    settings = {**ga, **flat} if ga_first else {**flat, **ga}
    assert normalize_settings(settings) == {
        "output_modalities": ["text"],
        "max_output_tokens": 10,
        "audio": {"input": {"format": PCMU}, "output": {"voice": "marin", "speed": 0.9}},
    }


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("pcm16", PCM),
        ("audio/pcm", PCM),
        ({"type": "audio/pcm", "rate": 24000}, PCM),
        ({"type": "audio/pcm"}, PCM),
        ("g711_ulaw", PCMU),
        ("audio/pcmu", PCMU),
        ("g711_alaw", PCMA),
        ({"type": "audio/pcma"}, PCMA),
    ],
)
def test_formats_become_ga_dicts(spelling: object, expected: dict[str, Any]) -> None:
    normalized = normalize_settings({"audio": {"output": {"format": spelling}}})
    assert normalized == {"audio": {"output": {"format": expected}}}


def test_camel_case_turn_detection_keys_become_snake_case() -> None:
    camel = {
        "type": "server_vad",
        "prefixPaddingMs": 300,
        "silenceDurationMs": 500,
        "idleTimeoutMs": None,
        "createResponse": True,
        "interruptResponse": False,
    }
    snake = {
        "type": "server_vad",
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": False,
    }
    assert (
        normalize_settings({"turn_detection": camel})["audio"]["input"]["turn_detection"] == snake
    )
    nested = normalize_settings({"audio": {"input": {"turn_detection": camel}}})
    assert nested["audio"]["input"]["turn_detection"] == snake


def test_turn_detection_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="turn_detection"):
        normalize_settings({"turn_detection": "server_vad"})


def test_the_input_mapping_is_not_mutated() -> None:
    settings: dict[str, Any] = {
        "voice": "alloy",
        "modalities": ["audio", "text"],
        "turn_detection": {"type": "server_vad", "silenceDurationMs": 200},
        "audio": {"input": {"format": "pcm16"}, "output": {"format": {"type": "audio/pcmu"}}},
    }
    before = copy.deepcopy(settings)
    normalize_settings(settings)
    merge_settings(settings, {"audio": {"output": {"speed": 1.2}}})
    assert settings == before


def test_merge_settings_merges_audio_blocks_key_by_key() -> None:
    base = {"instructions": "a", "voice": "alloy", "input_audio_format": "pcm16", "speed": 1.0}
    override = {"instructions": "b", "audio": {"output": {"speed": 1.5}}, "turn_detection": None}
    assert merge_settings(base, override) == {
        "instructions": "b",
        "audio": {
            "input": {"format": PCM, "turn_detection": None},
            "output": {"voice": "alloy", "speed": 1.5},
        },
    }


def test_merge_settings_without_audio_on_one_side() -> None:
    assert merge_settings({"instructions": "a"}, {"voice": "marin"}) == {
        "instructions": "a",
        "audio": {"output": {"voice": "marin"}},
    }
    assert merge_settings({"voice": "marin"}, {"instructions": "b"}) == {
        "instructions": "b",
        "audio": {"output": {"voice": "marin"}},
    }


def test_merged_result_does_not_alias_the_base() -> None:
    base = {"audio": {"output": {"voice": "alloy"}}}
    merged = merge_settings(base, {"audio": {"output": {"voice": "marin"}}})
    assert merged["audio"]["output"]["voice"] == "marin"
    assert base["audio"]["output"]["voice"] == "alloy"


# -- property: normalising is idempotent

FORMATS = st.sampled_from(
    ["pcm16", "pcm", "audio/pcm", "g711_ulaw", "audio/pcmu", "g711_alaw", "audio/pcma"]
) | st.sampled_from([PCM, PCMU, PCMA, {"type": "audio/pcm"}])
TURN_DETECTION = st.none() | st.fixed_dictionaries(
    {"type": st.sampled_from(["server_vad", "semantic_vad"])},
    optional={
        "threshold": st.floats(0, 1),
        "prefixPaddingMs": st.integers(0, 1000),
        "silence_duration_ms": st.integers(0, 2000),
        "createResponse": st.booleans(),
        "interrupt_response": st.booleans(),
    },
)
MODALITIES = st.lists(st.sampled_from(["text", "audio"]), unique=True)
TRANSCRIPTION = st.none() | st.fixed_dictionaries(
    {"model": st.sampled_from(["whisper-1", "gpt-4o-transcribe"])}
)
NOISE = st.none() | st.fixed_dictionaries({"type": st.sampled_from(["near_field", "far_field"])})
TOKENS = st.integers(1, 4096) | st.just("inf")
AUDIO_INPUT = st.fixed_dictionaries(
    {},
    optional={
        "format": FORMATS,
        "turn_detection": TURN_DETECTION,
        "transcription": TRANSCRIPTION,
        "noise_reduction": NOISE,
    },
)
AUDIO_OUTPUT = st.fixed_dictionaries(
    {},
    optional={
        "format": FORMATS,
        "voice": st.sampled_from(["alloy", "marin"]),
        "speed": st.floats(0.25, 1.5),
    },
)
SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "instructions": st.text(max_size=20),
        "voice": st.sampled_from(["alloy", "marin", "cedar"]),
        "speed": st.floats(0.25, 1.5),
        "input_audio_format": FORMATS,
        "output_audio_format": FORMATS,
        "input_audio_transcription": TRANSCRIPTION,
        "input_audio_noise_reduction": NOISE,
        "turn_detection": TURN_DETECTION,
        "modalities": MODALITIES,
        "output_modalities": MODALITIES,
        "max_response_output_tokens": TOKENS,
        "max_output_tokens": TOKENS,
        "audio": st.fixed_dictionaries({}, optional={"input": AUDIO_INPUT, "output": AUDIO_OUTPUT}),
    },
)


@given(SETTINGS)
def test_normalizing_twice_equals_normalizing_once(settings: dict[str, Any]) -> None:
    once = normalize_settings(settings)
    assert normalize_settings(once) == once
    assert not FLAT_KEYS & set(once)


@given(SETTINGS, SETTINGS)
def test_merging_with_nothing_is_normalizing(base: dict[str, Any], other: dict[str, Any]) -> None:
    assert merge_settings(base, {}) == normalize_settings(base)
    assert merge_settings({}, base) == normalize_settings(base)
    merged = merge_settings(base, other)
    assert normalize_settings(merged) == merged
