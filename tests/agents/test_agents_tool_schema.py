"""Tools from functions: schemas from hints and docstrings, validation, invocation."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any, Literal

import pydantic
import pytest

from realtime_agents.agents import (
    FunctionTool,
    RealtimeAgent,
    ToolArgumentsError,
    ToolContext,
    function_tool,
)
from realtime_agents.agents.schema import parse_docstring
from realtime_agents.agents.tools import serialize_output

AGENT = RealtimeAgent(name="tester")


def context_for(tool: FunctionTool, arguments: str) -> ToolContext[Any]:
    return ToolContext(
        context={"user": "ann"},
        call_id="c1",
        tool_name=tool.name,
        arguments=arguments,
        agent=AGENT,
    )


@function_tool
def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int = 1) -> str:
    """Get the weather forecast.

    Args:
        city: The city to look up.
            Use the English name.
        unit: Temperature unit.
        days (int): How many days ahead.

    Returns:
        A short forecast.
    """
    return f"{city}: sunny for {days} day(s) in {unit}"


def test_schema_from_type_hints_and_google_docstring() -> None:
    schema = get_weather.params_json_schema
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the weather forecast."
    assert schema["required"] == ["city"]
    assert schema["properties"]["city"] == {
        "type": "string",
        "description": "The city to look up. Use the English name.",
    }
    assert schema["properties"]["unit"]["enum"] == ["c", "f"]
    assert schema["properties"]["days"]["description"] == "How many days ahead."
    assert schema["additionalProperties"] is False
    assert "title" not in schema
    assert get_weather.definition()["type"] == "function"


def test_decorator_with_arguments_and_plain_constructor() -> None:
    @function_tool(name="lookup", description="Find a thing.", timeout_s=3, needs_approval=True)
    async def find(query: str) -> str:
        return query

    assert (find.name, find.description, find.timeout_s, find.needs_approval) == (
        "lookup",
        "Find a thing.",
        3,
        True,
    )

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    plain = FunctionTool(add)
    assert plain.name == "add"
    assert plain.description == "Add two numbers."
    assert set(plain.params_json_schema["required"]) == {"a", "b"}
    assert plain(2, 3) == 5  # still callable directly


def test_tool_context_parameter_is_not_in_the_schema() -> None:
    @function_tool
    def whoami(ctx: ToolContext[dict[str, str]], greeting: str) -> str:
        return greeting

    assert list(whoami.params_json_schema["properties"]) == ["greeting"]


def test_bad_tool_definitions_raise_at_once() -> None:
    def varargs(*names: str) -> None: ...

    with pytest.raises(TypeError, match="named parameters"):
        FunctionTool(varargs)

    def late_context(a: int, ctx: ToolContext[Any]) -> None: ...

    with pytest.raises(TypeError, match="must come first"):
        FunctionTool(late_context)
    with pytest.raises(ValueError, match="name"):
        FunctionTool(lambda: None)
    with pytest.raises(ValueError, match="timeout_s"):
        FunctionTool(get_weather.function, timeout_s=0)
    with pytest.raises(ValueError, match="two tools"):
        RealtimeAgent(name="dup", tools=[get_weather, FunctionTool(get_weather.function)])


def test_parse_arguments_reports_bad_json_and_schema_errors() -> None:
    with pytest.raises(ToolArgumentsError, match="invalid arguments for tool 'get_weather'"):
        get_weather.parse_arguments("{not json")
    with pytest.raises(ToolArgumentsError, match="city: Field required"):
        get_weather.parse_arguments('{"days": 2}')
    with pytest.raises(ToolArgumentsError, match="unit"):
        get_weather.parse_arguments('{"city": "Oslo", "unit": "kelvin"}')
    with pytest.raises(ToolArgumentsError, match="color: Extra inputs"):
        get_weather.parse_arguments('{"city": "Oslo", "color": "red"}')


async def test_invoke_sync_tool_runs_in_a_worker_thread() -> None:
    threads: list[int] = []

    @function_tool
    def where(ctx: ToolContext[dict[str, str]], x: int) -> dict[str, Any]:
        threads.append(threading.get_ident())
        return {"x": x * 2, "user": ctx.context["user"], "call": ctx.call_id}

    result = await where.invoke(context_for(where, '{"x": 21}'))
    assert result.status == "completed"
    assert result.value == {"x": 42, "user": "ann", "call": "c1"}
    assert result.output == '{"x":42,"user":"ann","call":"c1"}'
    assert threads and threads[0] != threading.get_ident()


async def test_invoke_errors_become_outputs_not_exceptions() -> None:
    @function_tool
    async def broken(x: int) -> str:
        raise RuntimeError("database is down")

    result = await broken.invoke(context_for(broken, '{"x": 1}'))
    assert result.status == "error"
    assert "database is down" in result.output and "RuntimeError" in result.output

    invalid = await broken.invoke(context_for(broken, '{"x": "many"}'))
    assert invalid.status == "invalid_arguments"
    assert "x:" in invalid.output

    never = asyncio.Event()

    @function_tool(timeout_s=0.01)
    async def stuck() -> str:
        await never.wait()
        return "done"

    timed_out = await stuck.invoke(context_for(stuck, "{}"))
    assert timed_out.status == "timeout"
    assert "timed out" in timed_out.output


async def test_needs_approval_predicate_sees_the_arguments() -> None:
    @function_tool(needs_approval=lambda ctx, args: args.get("amount", 0) > 100)
    def pay(amount: int) -> str:
        return "paid"

    assert await pay.requires_approval(None, '{"amount": 500}') is True
    assert await pay.requires_approval(None, '{"amount": 5}') is False


def test_serialize_output() -> None:
    class Model(pydantic.BaseModel):
        a: int

    @dataclasses.dataclass
    class Point:
        x: int

    assert serialize_output("plain") == "plain"
    assert serialize_output(Model(a=1)) == '{"a":1}'
    assert serialize_output(Point(2)) == '{"x":2}'
    assert serialize_output(None) == "null"
    assert serialize_output(object()).startswith("<object object")


def test_parse_docstring_sphinx_and_sections() -> None:
    doc = parse_docstring(
        """Do a thing.

        More detail.

        :param name: Who to greet.
        :param int times: How often.
        """
    )
    assert doc.description == "Do a thing.\n\nMore detail."
    assert doc.parameters == {"name": "Who to greet.", "times": "How often."}
    assert parse_docstring(None).description == ""
