"""`response.create` parameters: validated and resolved against the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError, invalid_value
from .json_validators import check_keys, expect_bool, expect_list, expect_object, expect_str, join
from .session_config import parse_audio_format, parse_modalities, parse_voice
from .shared_field_parsers import (
    parse_max_output_tokens,
    parse_prompt,
    parse_tool_choice,
    parse_tools,
)


@dataclass(slots=True)
class ResponseParams:
    """`response.create` options resolved against the session."""

    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    output_modalities: list[str]
    max_output_tokens: int | str
    metadata: dict[str, str] | None
    out_of_band: bool
    input: list[Any] | None
    voice: str | dict[str, Any]
    output_format: dict[str, Any]


_RESPONSE_KEYS = [
    "output_modalities",
    "instructions",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "conversation",
    "input",
    "metadata",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
]


def parse_response_params(raw: object, session: dict[str, Any]) -> ResponseParams:
    """Validate the `response` of `response.create` (absent = `{}`) over the session's values."""
    obj = {} if raw is None else expect_object(raw, "response")
    check_keys(obj, _RESPONSE_KEYS, "response")
    output = session["audio"]["output"]
    params = ResponseParams(
        instructions=session["instructions"],
        tools=list(session["tools"]),
        tool_choice=session["tool_choice"],
        output_modalities=list(session["output_modalities"]),
        max_output_tokens=session["max_output_tokens"],
        metadata=None,
        out_of_band=False,
        input=None,
        voice=output["voice"],
        output_format=output["format"],
    )
    if "instructions" in obj:
        params.instructions = expect_str(obj["instructions"], "response.instructions")
    if "output_modalities" in obj:
        params.output_modalities = parse_modalities(
            obj["output_modalities"], "response.output_modalities"
        )
    if "tools" in obj:
        params.tools = parse_tools(obj["tools"], "response.tools")
    if "tool_choice" in obj:
        params.tool_choice = parse_tool_choice(obj["tool_choice"], "response.tool_choice")
    if "max_output_tokens" in obj:
        params.max_output_tokens = parse_max_output_tokens(
            obj["max_output_tokens"], "response.max_output_tokens"
        )
    if "conversation" in obj:
        conversation = expect_str(obj["conversation"], "response.conversation")
        if conversation not in ("auto", "none"):
            raise invalid_value("response.conversation", conversation, ["auto", "none"])
        params.out_of_band = conversation == "none"
    if "input" in obj:
        params.input = expect_list(obj["input"], "response.input")
    if "metadata" in obj and obj["metadata"] is not None:
        metadata = expect_object(obj["metadata"], "response.metadata")
        if len(metadata) > 16:
            raise ProtocolError(
                "invalid_value", "Metadata can hold at most 16 pairs.", "response.metadata"
            )
        for key, value in metadata.items():
            expect_str(key, "response.metadata", max_length=64)
            expect_str(value, join("response.metadata", key), max_length=512)
        params.metadata = dict(metadata)
    if "audio" in obj:
        audio = expect_object(obj["audio"], "response.audio")
        check_keys(audio, ["output"], "response.audio")
        out = expect_object(audio.get("output", {}), "response.audio.output")
        check_keys(out, ["format", "voice"], "response.audio.output")
        if "format" in out:
            params.output_format = parse_audio_format(out["format"], "response.audio.output.format")
        if "voice" in out:
            params.voice = parse_voice(out["voice"], "response.audio.output.voice")
    if "prompt" in obj and obj["prompt"] is not None:
        parse_prompt(obj["prompt"], "response.prompt")
    if "parallel_tool_calls" in obj:
        expect_bool(obj["parallel_tool_calls"], "response.parallel_tool_calls")
    return params
