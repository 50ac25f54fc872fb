"""Parsers for the session fields that are not audio (tools, tool choice, output token limit,
tracing, truncation, prompt, include), shared by `session.update` and `response.create`."""

from __future__ import annotations

from typing import Any

from .errors import invalid_value
from .json_validators import (
    check_keys,
    expect_enum,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_optional_str,
    expect_str,
    join,
)


def parse_tools(value: object, param: str) -> list[dict[str, Any]]:
    """Function tools `{type:"function", name, description?, parameters?}`."""
    tools = []
    for index, raw in enumerate(expect_list(value, param)):
        tool_param = f"{param}[{index}]"
        tool = expect_object(raw, tool_param)
        check_keys(
            tool, ["type", "name", "description", "parameters"], tool_param, required=["name"]
        )
        expect_enum(tool.get("type", "function"), join(tool_param, "type"), ["function"])
        parsed: dict[str, Any] = {
            "type": "function",
            "name": expect_str(tool["name"], join(tool_param, "name")),
        }
        if "description" in tool:
            parsed["description"] = expect_str(tool["description"], join(tool_param, "description"))
        if "parameters" in tool:
            parsed["parameters"] = expect_object(tool["parameters"], join(tool_param, "parameters"))
        tools.append(parsed)
    return tools


def parse_tool_choice(value: object, param: str) -> str | dict[str, Any]:
    """`auto`, `none`, `required` or `{"type": "function", "name": ...}`."""
    if isinstance(value, str):
        return expect_enum(value, param, ["auto", "none", "required"])
    obj = expect_object(value, param)
    check_keys(obj, ["type", "name"], param, required=["type", "name"])
    expect_enum(obj["type"], join(param, "type"), ["function"])
    return {"type": "function", "name": expect_str(obj["name"], join(param, "name"))}


def parse_max_output_tokens(value: object, param: str) -> int | str:
    """An integer 1..4096 or `"inf"`."""
    if value == "inf":
        return "inf"
    if isinstance(value, str):
        raise invalid_value(param, value, ["inf"])
    return expect_int(value, param, minimum=1, maximum=4096)


def parse_tracing(value: object, param: str) -> object:
    if value is None or value == "auto":
        return value
    obj = expect_object(value, param)
    check_keys(obj, ["workflow_name", "group_id", "metadata"], param)
    for key in ("workflow_name", "group_id"):
        expect_optional_str(obj.get(key), join(param, key))
    return obj


def parse_truncation(value: object, param: str) -> object:
    if isinstance(value, str):
        return expect_enum(value, param, ["auto", "disabled"])
    obj = expect_object(value, param)
    check_keys(
        obj,
        ["type", "retention_ratio", "token_limits"],
        param,
        required=["type", "retention_ratio"],
    )
    expect_enum(obj["type"], join(param, "type"), ["retention_ratio"])
    expect_number(obj["retention_ratio"], join(param, "retention_ratio"), minimum=0, maximum=1)
    if "token_limits" in obj and obj["token_limits"] is not None:
        limits_param = join(param, "token_limits")
        limits = expect_object(obj["token_limits"], limits_param)
        check_keys(limits, ["post_instructions"], limits_param)
        if limits.get("post_instructions") is not None:
            expect_int(
                limits["post_instructions"], join(limits_param, "post_instructions"), minimum=0
            )
    return obj


_PROMPT_VARIABLE_PARTS = {
    "input_text": (["type", "text"], ["text"]),
    "input_image": (["type", "image_url", "file_id", "detail"], ["detail"]),
    "input_file": (["type", "file_id", "file_data", "file_url", "filename"], []),
}
"""What a prompt variable that is not a string may be: keys allowed and required."""


def parse_prompt(value: object, param: str) -> dict[str, Any]:
    obj = expect_object(value, param)
    check_keys(obj, ["id", "version", "variables"], param, required=["id"])
    expect_str(obj["id"], join(param, "id"))
    expect_optional_str(obj.get("version"), join(param, "version"))
    if obj.get("variables") is not None:
        variables_param = join(param, "variables")
        for name, variable in expect_object(obj["variables"], variables_param).items():
            if not isinstance(variable, str):
                _check_prompt_part(variable, join(variables_param, name))
    return obj


def _check_prompt_part(value: object, param: str) -> None:
    part = expect_object(value, param)
    kind = expect_enum(part.get("type"), join(param, "type"), list(_PROMPT_VARIABLE_PARTS))
    allowed, required = _PROMPT_VARIABLE_PARTS[kind]
    check_keys(part, allowed, param, required=required)
    for key in allowed[1:]:
        if key == "detail":
            expect_enum(part[key], join(param, key), ["low", "high", "auto"])
        else:
            expect_optional_str(part.get(key), join(param, key))


def parse_include(value: object, param: str) -> list[str] | None:
    if value is None:
        return None
    items = expect_list(value, param)
    for index, item in enumerate(items):
        expect_enum(item, f"{param}[{index}]", ["item.input_audio_transcription.logprobs"])
    return list(items)
