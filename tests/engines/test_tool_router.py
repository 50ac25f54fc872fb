"""The few-shot router prompt and grammar schema are built from the session's tool list."""

from __future__ import annotations

import json
from typing import Any

from realtime_agents.server.engines.tool_router import (
    GENERAL_CONTEXT,
    build_router_prompt,
    parse_tools,
    request_context,
    router_schema,
    select_tools,
)
from realtime_agents.testing.sample_tools import WEATHER_TOOL

TOOLS: list[dict[str, Any]] = [
    WEATHER_TOOL,
    {
        "type": "function",
        "name": "playMusic",
        "description": "Play a song.",
        "parameters": {
            "type": "object",
            "properties": {"genre": {"enum": ["jazz", "rock"]}, "loud": {"type": "boolean"}},
        },
    },
    {"type": "function", "name": "get_time", "parameters": {"type": "object"}},
]


def _names(schema: dict[str, Any]) -> list[str]:
    return [option["properties"]["name"]["const"] for option in schema["anyOf"]]


def test_examples_cover_every_tool_and_none() -> None:
    prompt = build_router_prompt(parse_tools(TOOLS), allow_none=True)
    answers = [json.loads(answer) for _, answer in prompt.examples]
    names = [answer["name"] for answer in answers]
    assert {"get_weather", "playMusic", "get_time", "none"} <= set(names)
    assert names[-1] != "none"  # a run of "none" at the end biases the model
    weather = [q for q, a in prompt.examples if "get_weather" in a]
    assert any("weather" in q.lower() for q in weather)
    for query, answer in prompt.examples:
        arguments = json.loads(answer).get("arguments", {})
        for value in arguments.values():
            if isinstance(value, str):
                assert value in query  # the value to extract appears in the query
    music = [json.loads(a)["arguments"] for _, a in prompt.examples if "playMusic" in a]
    assert all(m["genre"] in ("jazz", "rock") for m in music)


def test_prompt_messages_end_with_the_user_text() -> None:
    prompt = build_router_prompt(parse_tools(TOOLS), allow_none=True)
    messages = prompt.messages("Hi there")
    assert messages[0]["role"] == "system"
    assert "get_weather(city)" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Hi there"}
    assert messages[:-1] == prompt.messages("Something else")[:-1]  # a cacheable prefix


def test_schema_constrains_names_and_arguments() -> None:
    tools = parse_tools(TOOLS)
    schema = router_schema(tools, allow_none=True)
    assert _names(schema) == ["get_weather", "playMusic", "get_time", "none"]
    weather = schema["anyOf"][0]["properties"]["arguments"]
    assert weather["required"] == ["city"]
    assert weather["additionalProperties"] is False
    music = schema["anyOf"][1]["properties"]["arguments"]["properties"]
    assert music == {"genre": {"enum": ["jazz", "rock"]}, "loud": {"type": "boolean"}}
    assert _names(router_schema(tools, allow_none=False)) == [
        "get_weather",
        "playMusic",
        "get_time",
    ]


def test_tool_choice_selects_tools() -> None:
    tools = parse_tools(TOOLS)
    assert select_tools(tools, "none") == ([], True)
    assert select_tools(tools, "auto") == (tools, True)
    assert select_tools(tools, "required") == (tools, False)
    named = select_tools(tools, {"type": "function", "name": "get_time"})
    assert [t.name for t in named[0]] == ["get_time"] and named[1] is False
    chat_style = select_tools(tools, {"type": "function", "function": {"name": "get_time"}})
    assert [t.name for t in chat_style[0]] == ["get_time"]
    prompt = build_router_prompt(named[0], allow_none=False)
    assert all("none" not in answer for _, answer in prompt.examples)


def test_parse_tools_accepts_chat_shape_and_skips_others() -> None:
    chat = {"type": "function", "function": {"name": "f", "parameters": {"properties": {}}}}
    parsed = parse_tools([chat, {"type": "mcp", "name": "x"}, {"type": "function"}])
    assert [t.name for t in parsed] == ["f"]


def test_request_contexts_state_each_tool_apart_from_general_conversation() -> None:
    weather, music, clock = parse_tools(TOOLS)
    assert request_context(weather).endswith("asks you to get the current weather for a city.")
    assert request_context(music).endswith("asks you to play a song.")
    assert request_context(clock).endswith("asks you to get time.")  # no description: the name
    contexts = {GENERAL_CONTEXT, request_context(weather), request_context(music)}
    assert len(contexts) == 3
