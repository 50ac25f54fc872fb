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
    return obj


def parse_truncation(value: object, param: str) -> object:
    if isinstance(value, str):
        return expect_enum(value, param, ["auto", "disabled"])
    obj = expect_object(value, param)
    check_keys(obj, ["type", "retention_ratio", "token_limits"], param, required=["type"])
    expect_enum(obj["type"], join(param, "type"), ["retention_ratio"])
    if "retention_ratio" in obj:
        expect_number(obj["retention_ratio"], join(param, "retention_ratio"), minimum=0, maximum=1)
    return obj


def parse_prompt(value: object, param: str) -> dict[str, Any]:
    obj = expect_object(value, param)
    check_keys(obj, ["id", "version", "variables"], param, required=["id"])
    expect_str(obj["id"], join(param, "id"))
    return obj


def parse_include(value: object, param: str) -> list[str] | None:
    if value is None:
        return None
    items = expect_list(value, param)
    for index, item in enumerate(items):
        expect_enum(item, f"{param}[{index}]", ["item.input_audio_transcription.logprobs"])
    return list(items)
